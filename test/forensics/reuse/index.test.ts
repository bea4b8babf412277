import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  HASH_WORDS,
  ReuseIndex,
  ReuseInputError,
  hexToWords,
  linearScan,
  wordsToHex,
  type IndexMatch,
} from '../../../src/forensics/reuse/index.ts';
import { sharedPath } from '../../helpers/shared.ts';
import { xorshift32 } from '../../helpers/xorshift.ts';

/** Deterministic xorshift32 so failures can be replayed. */
const rng = xorshift32;

function randomWords(next: () => number): Uint32Array {
  const w = new Uint32Array(HASH_WORDS);
  for (let k = 0; k < HASH_WORDS; k++) w[k] = next();
  return w;
}

/** A copy of `w` with exactly `d` distinct bits flipped. */
function flipBits(w: Uint32Array, d: number, next: () => number): Uint32Array {
  const out = w.slice();
  const chosen = new Set<number>();
  while (chosen.size < d) chosen.add(next() & 255);
  for (const bit of chosen) out[bit >>> 5]! ^= 1 << (bit & 31);
  return out;
}

/** Brute force over the entries the test believes are live (id → words). */
function bruteForce(live: Map<number, Uint32Array>, queries: Uint32Array[], maxDistance: number): IndexMatch[] {
  const ids = [...live.keys()];
  const words = new Uint32Array(ids.length * HASH_WORDS);
  ids.forEach((id, i) => words.set(live.get(id)!, i * HASH_WORDS));
  return linearScan(words, ids.length, queries, maxDistance)
    .map((m) => ({ ...m, id: ids[m.id]! }))
    .sort((a, b) => a.distance - b.distance || a.id - b.id);
}

test('search equals a linear scan: random + planted hashes at distances 0..40, with inserts and deletes', () => {
  const next = rng(20261123);
  const live = new Map<number, Uint32Array>();
  const base: Uint32Array[] = [];
  for (let i = 0; i < 20_000; i++) base.push(randomWords(next));
  const idx = ReuseIndex.fromWords(Uint32Array.from(base.flatMap((w) => [...w])), undefined, { deltaLimit: 300, compactLimit: 500 });
  base.forEach((w, i) => live.set(i, w));

  // 12 query photos of 8 "variants" each; plant neighbours of every variant at every distance 0..40
  const photos: Uint32Array[][] = [];
  for (let p = 0; p < 12; p++) photos.push(Array.from({ length: 8 }, () => randomWords(next)));
  let planted = 0;
  for (const photo of photos) {
    for (const variant of photo) {
      for (let d = 0; d <= 40; d++) {
        const w = flipBits(variant, d, next);
        const id = idx.add(w);
        live.set(id, w);
        assert.deepEqual(hexToWords(idx.get(id)!), w);
        planted++;
      }
    }
  }
  assert.equal(idx.size, 20_000 + planted);

  const check = (label: string) => {
    for (const maxDistance of [0, 5, 16, 31, 40]) {
      for (const photo of photos) {
        const got = idx.search(photo, maxDistance);
        const want = bruteForce(live, photo, maxDistance);
        assert.deepEqual(got, want, `${label}, maxDistance ${maxDistance}`);
      }
    }
  };
  check('after bulk build and inserts');

  // every planted distance ≤ 31 is found for each variant, none beyond
  const found = idx.search([photos[0]![3]!], 31);
  const distances = new Set(found.map((m) => m.distance));
  for (let d = 0; d <= 31; d++) assert.ok(distances.has(d), `planted neighbour at distance ${d} found`);
  assert.ok(found.every((m) => m.distance <= 31));

  // delete a third of the planted hashes and some random ones; re-insert some under new ids
  const ids = [...live.keys()];
  let removed = 0;
  for (const id of ids) {
    if (id >= 20_000 ? next() % 3 === 0 : next() % 50 === 0) {
      assert.equal(idx.remove(id), true);
      live.delete(id);
      removed++;
    }
  }
  assert.ok(removed > 500, 'enough deletes to trigger a compaction');
  assert.equal(idx.remove(ids.find((id) => !live.has(id))!), false, 'a deleted id cannot be deleted twice');
  for (let i = 0; i < 200; i++) {
    const photo = photos[i % photos.length]!;
    const w = flipBits(photo[i % 8]!, i % 41, next);
    const id = idx.add(wordsToHex(w));
    live.set(id, w);
  }
  assert.equal(idx.size, live.size);
  check('after deletes, compaction and re-inserts');
  idx.flush();
  check('after flush');
});

test('the variant reported is the query hash at the smallest distance', () => {
  const next = rng(7);
  const stored = randomWords(next);
  const idx = ReuseIndex.fromWords(stored.slice(), [42]);
  const queries = [flipBits(stored, 30, next), flipBits(stored, 12, next), flipBits(stored, 3, next), flipBits(stored, 3, next)];
  assert.deepEqual(idx.search(queries, 31), [{ id: 42, distance: 3, variant: 2 }]);
  assert.deepEqual(idx.search(queries.slice(0, 1), 29), []);
});

test('upstream MIH needles/haystack give exactly the expected pairs at d ≤ 16 and d ≤ 31', () => {
  const lines = (f: string) => readFileSync(sharedPath('pdq', 'mih', f), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
  const haystack = lines('haystack.txt');
  const needles = lines('needles.txt');
  const idx = ReuseIndex.fromHexes(haystack);
  for (const d of [16, 31]) {
    const expected = lines(`expected-matches-d${d}.tsv`)
      .slice(1)
      .map((l) => l.split('\t'))
      .map(([ni, , hi, , dist]) => `${ni}\t${hi}\t${dist}`)
      .sort();
    const got: string[] = [];
    needles.forEach((n, ni) => {
      for (const m of idx.search([n], d)) got.push(`${ni}\t${m.id}\t${m.distance}`);
    });
    got.sort();
    assert.equal(got.length, d === 31 ? 250 : 152);
    assert.deepEqual(got, expected);
  }
});

test('bad input is refused with a typed error and changes nothing', () => {
  const idx = new ReuseIndex();
  const h = 'f'.repeat(64);
  assert.equal(idx.add(h, 5), 5);
  assert.equal(idx.add('0'.repeat(64)), 6, 'ids continue after the largest one given');
  for (const [fn, code] of [
    [() => idx.add('xyz'), 'bad_hash'],
    [() => idx.add('f'.repeat(63)), 'bad_hash'],
    [() => idx.add(h, 5), 'duplicate_id'],
    [() => idx.add(h, -1), 'bad_id'],
    [() => idx.add(h, 1.5), 'bad_id'],
    [() => idx.add(h, 2_000_000_000), 'bad_id'], // would need an 8 GB id map
    [() => ReuseIndex.fromHexes([h], [1_500_000_000]), 'bad_id'],
    [() => idx.search([h], 300), 'bad_option'],
    [() => idx.search(['nope'], 31), 'bad_hash'],
    [() => ReuseIndex.fromHexes([h, h], [1, 1]), 'duplicate_id'],
  ] as const) {
    assert.throws(fn, (e: unknown) => e instanceof ReuseInputError && e.code === code);
  }
  assert.equal(idx.size, 2);
  assert.deepEqual(idx.search([h], 0), [{ id: 5, distance: 0, variant: 0 }]);
  assert.equal(idx.get(6), '0'.repeat(64));
  assert.equal(idx.remove(99), false);
});

test('memory beyond the hashes stays under 64 bytes per hash for a bulk-built index', () => {
  const next = rng(99);
  const n = 200_000;
  const words = new Uint32Array(n * HASH_WORDS);
  for (let i = 0; i < words.length; i++) words[i] = next();
  const idx = ReuseIndex.fromWords(words);
  const mem = idx.memory();
  assert.equal(mem.hashBytes, n * 32);
  // postings 48 B + id maps 8 B + tombstones; the fixed 2 MB of bucket offsets spread over n
  const perHash = (mem.overheadBytes - 8 * 65537 * 4) / n;
  assert.ok(perHash <= 64, `overhead ${perHash} B/hash`);
});

// With 20 000 random hashes every bucket holds less than one posting, so the paths for large
// buckets (the block scan and one-bit lookups, taken above 48 postings) would go untested.
// Here each slot's high 16 bits take only 8 values per query (buckets of hundreds), and the
// planted neighbours are at distance exactly 31 or 32 with one slot within 3 bits (k of them
// in the high half, 3 − k in the low half, anywhere — both sides of the block boundary) and
// 4 bits (or 5) in each other slot, so that the one close slot alone decides whether a
// neighbour is found.
test('search equals a linear scan when buckets are large (crowded high bits, one close slot)', () => {
  const next = rng(424242);
  const queries = Array.from({ length: 8 }, () => randomWords(next));
  const all: Uint32Array[] = [];
  for (let i = 0; i < 24_000; i++) {
    const w = randomWords(next);
    const q = queries[i % queries.length]!;
    for (let s = 0; s < HASH_WORDS; s++) w[s] = ((((q[s]! >>> 16) ^ (next() & 0x7)) << 16) | (w[s]! & 0xffff)) >>> 0;
    all.push(w);
  }
  const flipIn = (w: Uint32Array, s: number, count: number, from: number, span: number) => {
    const bits = new Set<number>();
    while (bits.size < count) bits.add(from + (next() % span));
    for (const b of bits) w[s]! ^= 1 << b;
  };
  const planted: number[] = [];
  for (let i = 0; i < 4_000; i++) {
    const q = queries[i % queries.length]!;
    const w = q.slice();
    const s = next() & 7;
    const k = next() % 4;
    flipIn(w, s, k, 16, 3); // high-half flips among the crowded bits: a large bucket
    flipIn(w, s, 3 - k, 0, 16);
    const far = i % 5 === 4; // every fifth at distance 32: must not be found at 31
    for (let o = 0; o < HASH_WORDS; o++) if (o !== s) flipIn(w, o, far && o === (s + 1) % 8 ? 5 : 4, 0, 32);
    planted.push(all.length);
    all.push(w);
  }
  const idx = ReuseIndex.fromWords(Uint32Array.from(all.flatMap((w) => [...w])));
  const live = new Map(all.map((w, i) => [i, w] as const));
  let found = 0;
  for (const d of [23, 31, 39]) {
    for (let v = 0; v < queries.length; v += 4) {
      const qs = queries.slice(v, v + 4);
      const got = idx.search(qs, d);
      assert.deepEqual(got, bruteForce(live, qs, d), `max distance ${d}, queries ${v}..`);
      if (d === 31) found += got.filter((m) => planted.includes(m.id)).length;
    }
  }
  assert.equal(found, 3_200, 'every planted neighbour at distance 31 is found, none at 32');
});
