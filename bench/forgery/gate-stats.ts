// Data behind MATCH_GATE (src/forensics/reference/align.ts): for the eval's forgeries and
// for genuine / unrelated pairs, the number of ratio-test matches of a 1-in-4 (g4) and 1-in-3
// (g3) sample of the reference's descriptors (c: all, s: distance ≤ 40, s2: ratio ≤ 0.7),
// beside the full alignment's inliers (0 = no alignment). One JSON line per pair:
//   N=20 node --import tsx bench/forgery/gate-stats.ts > gate.jsonl
import { readFileSync } from 'node:fs';
import { intakeImage } from '../../src/forensics/intake.ts';
import { loadOpenCv } from '../../src/forensics/reference/opencv.ts';
import { prepareReference } from '../../src/forensics/reference/prepared.ts';
import { alignReference, detectFeatures, type Features } from '../../src/forensics/reference/align.ts';
import { workingImage } from '../../src/forensics/reference/working.ts';
import { makeForgery, genuineClaim, photoClasses } from './dataset.ts';
import { EDIT_KINDS } from './edits.ts';
import { TRANSFORMS } from './transforms.ts';
const cv = await loadOpenCv();
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
function stage1(ref: Features, cf: Features, cfm: Features, step: number) {
  const idx: number[] = []; for (let i = 0; i < ref.count; i += step) idx.push(i);
  const d1 = new cv.Mat(idx.length, 32, cv.CV_8UC1);
  idx.forEach((q, k) => d1.data.set(ref.descriptors.subarray(q * 32, q * 32 + 32), k * 32));
  const n0 = cf.count;
  const d2 = new cv.Mat(n0 + cfm.count, 32, cv.CV_8UC1); d2.data.set(cf.descriptors); d2.data.set(cfm.descriptors, n0 * 32);
  const bf = new cv.BFMatcher(cv.NORM_HAMMING, false); const knn = new cv.DMatchVectorVector();
  bf.knnMatch(d1, d2, knn, 2);
  const c = [0, 0], s = [0, 0], s2 = [0, 0];
  for (let i = 0; i < knn.size(); i++) { const m: Any = knn.get(i); if (m.size() >= 2) { const a = m.get(0), b = m.get(1); if (a.distance <= 64 && a.distance <= 0.8 * b.distance) { const v = a.trainIdx < n0 ? 0 : 1; c[v]++; if (a.distance <= 40) s[v]++; if (a.distance <= 0.7 * b.distance) s2[v]++; } } m.delete(); }
  d1.delete(); d2.delete(); bf.delete(); knn.delete();
  return { c: Math.max(...c), s: Math.max(...s), s2: Math.max(...s2) };
}
const classes = photoClasses().slice(0, Number(process.env.N ?? 20));
async function one(label: string, claimBytes: Uint8Array, refPath: string) {
  const image = await intakeImage(claimBytes, { name: 'c.jpg' });
  const claim = await workingImage(image, 800, 560);
  const cf = await detectFeatures(claim.gray, claim.width, claim.height, false);
  const cfm = await detectFeatures(claim.gray, claim.width, claim.height, true);
  const ref = await prepareReference(await intakeImage(readFileSync(refPath), { name: refPath }));
  const a = await alignReference(ref.features, cf, cfm, 14, { gate: false });
  const g4 = stage1(ref.features, cf, cfm, 4), g3 = stage1(ref.features, cf, cfm, 3);
  console.log(JSON.stringify({ label, aligned: a?.inliers ?? 0, n: ref.features.count, g4, g3 }));
}
for (const [ci, c] of classes.entries()) {
  const refs: [string, 'listing' | 'natural'][] = [[c.listing, 'listing']];
  if (ci % 3 === 0) refs.push([c.natural[0]!, 'natural']);
  for (const [refPath, kind] of refs) for (const [ti, tr] of TRANSFORMS.entries()) {
    const f = await makeForgery(refPath, kind, EDIT_KINDS[(ci + ti) % 7]!, tr, `${c.name}/${kind}/${tr}`);
    await one(`pos ${c.name}/${kind}/${tr}`, f.claim, refPath);
  }
  const other = classes[(ci + 1) % classes.length]!;
  const g = await genuineClaim(c.natural[1]!, `g/${c.name}`);
  await one(`same ${c.name} listing-vs-natural`, g, c.listing);
  await one(`shelf ${c.name}`, g, c.natural[2] ?? c.natural[0]!);
  await one(`neg ${c.name} vs ${other.name}`, g, other.listing);
  await one(`neg ${c.name} vs ${other.name} nat`, g, other.natural[0]!);
  const o2 = classes[(ci + 5) % classes.length]!;
  await one(`neg ${c.name} vs ${o2.name}`, await genuineClaim(c.listing, `gl/${c.name}`), o2.listing);
}
