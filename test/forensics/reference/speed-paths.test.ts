// The reference check's speed paths must not change its answers: the WebAssembly Hamming
// matcher equals OpenCV's BFMatcher, the prepared-reference cache (LRU by bytes, keyed by
// SHA-256) gives the same findings as computing afresh, and the early-rejection gate gives
// the same alignment as a full pass whenever it lets a reference through.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { intakeImage } from '../../../src/forensics/intake.ts';
import { alignReference, detectFeatures } from '../../../src/forensics/reference/align.ts';
import { compareWithReferences } from '../../../src/forensics/reference/compare.ts';
import { knn2Hamming } from '../../../src/forensics/reference/hamming.ts';
import { loadOpenCv } from '../../../src/forensics/reference/opencv.ts';
import { PreparedReferenceCache, describeReference, prepareReference, referenceCache } from '../../../src/forensics/reference/prepared.ts';
import { workingImage } from '../../../src/forensics/reference/working.ts';
import { makeForgery, photoClasses, reference } from './helpers.ts';

const classes = photoClasses();
const byName = (n: string) => classes.find((c) => c.name === n)!;

test('WebAssembly Hamming 2-NN equals OpenCV BFMatcher.knnMatch (distances, indices, ties)', async () => {
  const cv = await loadOpenCv();
  let seed = 11;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
  const nq = 300, nt = 900;
  const q = new Uint8Array(nq * 32).map(rnd);
  const t = new Uint8Array(nt * 32).map(rnd);
  for (let i = 0; i < 40; i++) t.set(q.subarray(i * 32, i * 32 + 32), i * 7 * 32); // exact matches
  for (let i = 0; i < 20; i++) t.set(t.subarray(i * 7 * 32, i * 7 * 32 + 32), (i * 7 + 3) * 32); // ties
  for (let i = 40; i < 80; i++) for (let b = 0; b < 6; b++) t[(i * 5 + 1) * 32 + b] = q[i * 32 + b]! ^ (1 << b); // near matches
  const r = knn2Hamming(q, nq, t, nt);
  const d1 = new cv.Mat(nq, 32, cv.CV_8UC1);
  d1.data.set(q);
  const d2 = new cv.Mat(nt, 32, cv.CV_8UC1);
  d2.data.set(t);
  const bf = new cv.BFMatcher(cv.NORM_HAMMING, false);
  const knn = new cv.DMatchVectorVector();
  bf.knnMatch(d1, d2, knn, 2);
  let zero = 0;
  for (let i = 0; i < nq; i++) {
    const m = knn.get(i);
    assert.deepEqual([r.best[i], r.bestDistance[i], r.secondDistance[i]], [m.get(0).trainIdx, m.get(0).distance, m.get(1).distance], `query ${i}`);
    if (r.bestDistance[i] === 0) zero++;
    m.delete();
  }
  assert.ok(zero >= 20, `exact matches found: ${zero}`);
  for (const x of [d1, d2, bf, knn]) x.delete();
  // empty train set: no neighbour
  const none = knn2Hamming(q, 2, t, 0);
  assert.deepEqual(Array.from(none.best), [-1, -1]);
});

test('prepared-reference cache: one entry per SHA-256, LRU eviction by bytes, same findings as uncached', async () => {
  const paths = [byName('Oatly-Oat-Milk').listing, byName('Banana').listing, byName('Arla-Sour-Cream').listing];
  const images = await Promise.all(paths.map((p) => intakeImage(readFileSync(p), { name: p })));
  const one = await describeReference(images[0]!);
  assert.ok(one.bytes > 100_000 && one.features.count > 100);
  // budget for two entries: the third insert evicts the least recently used
  const cache = new PreparedReferenceCache(Math.floor(one.bytes * 2.5));
  const a = await cache.get(images[0]!);
  const b = await cache.get(images[1]!);
  assert.equal(await cache.get(images[0]!), a); // hit, and 0 is now the most recent
  await cache.get(images[2]!); // evicts 1
  assert.equal(cache.stats().entries, 2);
  assert.ok(cache.stats().bytes <= cache.maxBytes);
  assert.equal(await cache.get(images[0]!), a);
  assert.notEqual(await cache.get(images[1]!), b); // recomputed after eviction
  assert.deepEqual({ hits: cache.hits, misses: cache.misses }, { hits: 2, misses: 4 });
  // a second decode of the same bytes (same sha256) hits; concurrent requests share one computation
  const shared = referenceCache();
  shared.clear();
  const again = await intakeImage(readFileSync(paths[0]!), { name: 'again.jpg' });
  const [p1, p2] = await Promise.all([prepareReference(images[0]!), prepareReference({ id: 'x', kind: 'listing', image: again })]);
  assert.equal(p1, p2);

  // the check answers the same with prepared references as with nothing cached
  const c = byName('Oatly-Oat-Milk');
  const f = await makeForgery(c.listing, 'listing', 'crack', 'rotate8', 'speed-paths');
  const refs = [await reference(c.listing), await reference(byName('Banana').listing, 'banana.jpg')];
  const summary = async () => {
    const claim = await intakeImage(f.claim, { name: 'claim.jpg' });
    const r = await compareWithReferences(claim, refs);
    return r.findings.map((x) => ({ id: x.reference.id, relation: x.relation, regions: x.regions, inliers: x.alignment?.inliers }));
  };
  shared.clear();
  const cold = await summary();
  const warm = await summary();
  assert.deepEqual(warm, cold);
  assert.equal(cold.find((x) => x.id === 'listing.jpg')?.relation, 'derived');
});

test('early-rejection gate: identical alignment when it lets a reference through; unrelated references rejected', async () => {
  const c = byName('Oatly-Oat-Milk');
  for (const tr of ['crop30', 'screenshot', 'mirror'] as const) {
    const f = await makeForgery(c.listing, 'listing', 'stain', tr, `gate/${tr}`);
    const claimImage = await intakeImage(f.claim, { name: 'claim.jpg' });
    const claim = await workingImage(claimImage, 800, 560);
    const cf = await detectFeatures(claim.gray, claim.width, claim.height, false);
    const cfm = await detectFeatures(claim.gray, claim.width, claim.height, true);
    const ref = await prepareReference(await intakeImage(readFileSync(c.listing), { name: 'l.jpg' }));
    const stats = { rejectedEarly: false } as { rejectedEarly: boolean; sampleMatches?: number };
    const gated = await alignReference(ref.features, cf, cfm, 14, { gate: true, stats });
    const full = await alignReference(ref.features, cf, cfm, 14, { gate: false });
    assert.ok(full, tr);
    assert.deepEqual(gated, full, tr);
    assert.equal(stats.rejectedEarly, false);
    assert.ok((stats.sampleMatches ?? 0) > 0);
  }
  // unrelated references: no alignment, with or without the gate
  const claimImage = await intakeImage(readFileSync(c.natural[0]!), { name: 'claim.jpg' });
  const claim = await workingImage(claimImage, 800, 560);
  const cf = await detectFeatures(claim.gray, claim.width, claim.height, false);
  const cfm = await detectFeatures(claim.gray, claim.width, claim.height, true);
  for (const other of ['Banana', 'Garlic', 'Arla-Sour-Cream']) {
    const ref = await prepareReference(await intakeImage(readFileSync(byName(other).listing), { name: 'o.jpg' }));
    assert.equal(await alignReference(ref.features, cf, cfm, 14, { gate: true }), undefined, other);
  }
});
