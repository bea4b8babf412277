import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HASH_WORDS, ReuseIndex, linearScan } from '../../../src/forensics/reuse/index.ts';
import { ParallelSearch } from '../../../src/forensics/reuse/parallel.ts';
import { xorshift32 } from '../../helpers/xorshift.ts';

const rng = xorshift32;

test('parallel search (worker thread on shared arrays) equals index.search and a linear scan', async () => {
  const next = rng(777);
  const n = 30_000;
  const words = new Uint32Array(n * HASH_WORDS);
  for (let i = 0; i < words.length; i++) words[i] = next();
  const photos = Array.from({ length: 10 }, () => Array.from({ length: 8 }, () => Uint32Array.from({ length: HASH_WORDS }, next)));
  // neighbours of every variant at distances 0..36
  photos.forEach((variants) =>
    variants.forEach((v, vi) => {
      for (let d = vi; d <= 36; d += 4) {
        const w = v.slice();
        const bits = new Set<number>();
        while (bits.size < d) bits.add(next() & 255);
        for (const b of bits) w[b >>> 5]! ^= 1 << (b & 31);
        words.set(w, (next() % n) * HASH_WORDS);
      }
    }),
  );
  const index = ReuseIndex.fromWords(words.slice(), undefined, { shared: true, deltaLimit: 500 });
  assert.ok(index.searchState().lows[0]!.buffer instanceof SharedArrayBuffer);
  const par = new ParallelSearch(index);
  try {
    let found = 0;
    for (const photo of photos) {
      for (const d of [8, 31, 39]) {
        const got = await par.search(photo, d);
        assert.deepEqual(got, index.search(photo, d));
        assert.deepEqual(got, linearScan(words, n, photo, d));
        found += got.length;
      }
    }
    assert.ok(found > 200, `neighbours found (${found})`);
    // inserts (some buffered, some merged: new arrays and a new version), deletes, concurrent queries
    const added: number[] = [];
    for (let i = 0; i < 1_200; i++) {
      const v = photos[i % photos.length]![i % 8]!.slice();
      v[i % 8]! ^= 1 << (i % 32);
      added.push(index.add(v));
    }
    for (let i = 0; i < added.length; i += 3) index.remove(added[i]!);
    const answers = await Promise.all(photos.map((p) => par.search(p, 31)));
    answers.forEach((got, i) => assert.deepEqual(got, index.search(photos[i]!, 31)));
    assert.ok(answers.every((a) => a.length > 50));
  } finally {
    await par.close();
  }
  // after the worker is gone, queries still answer (on the calling thread)
  assert.deepEqual(await par.search(photos[0]!, 31), index.search(photos[0]!, 31));
  assert.throws(() => new ParallelSearch(ReuseIndex.fromWords(words.slice())), /shared/);
});

test('parallel search with 2 workers and no share on the calling thread equals index.search', async () => {
  const next = rng(4242);
  const n = 20_000;
  const words = new Uint32Array(n * HASH_WORDS);
  for (let i = 0; i < words.length; i++) words[i] = next();
  const photos = Array.from({ length: 6 }, () => Array.from({ length: 8 }, () => Uint32Array.from({ length: HASH_WORDS }, next)));
  photos.forEach((variants, p) =>
    variants.forEach((v, vi) => {
      const w = v.slice();
      for (let b = 0; b < (vi * 4 + p) % 32; b++) w[b >>> 5]! ^= 1 << (b & 31);
      words.set(w, (next() % n) * HASH_WORDS);
    }),
  );
  const index = ReuseIndex.fromWords(words, undefined, { shared: true, deltaLimit: 300 });
  const par = new ParallelSearch(index, { workers: 2, callerShare: false });
  try {
    for (const photo of photos) {
      const got = await par.search(photo, 31);
      assert.deepEqual(got, index.search(photo, 31));
      assert.deepEqual(got, linearScan(words, n, photo, 31));
      assert.ok(got.length >= 6, 'every planted variant neighbour found');
      // an odd number of query hashes (a 9th, the exchange hash of an EXIF-rotated photo)
      assert.deepEqual(await par.search([...photo, photo[0]!], 31), index.search([...photo, photo[0]!], 31));
    }
    for (let i = 0; i < 700; i++) index.add(photos[i % 6]![i % 8]!); // merges: new arrays, new version
    const answers = await Promise.all(photos.map((p) => par.search(p, 31)));
    answers.forEach((got, i) => assert.deepEqual(got, index.search(photos[i]!, 31)));
  } finally {
    await par.close();
  }
  assert.throws(() => new ParallelSearch(index, { workers: 0 }), /workers/);
});
