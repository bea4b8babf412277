import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { TRANSFORMS, listSourcePhotos } from '../../../bench/pdq-robustness-set.ts';
import { reuseDetector } from '../../../src/forensics/detectors/reuse.ts';
import { intakeImage } from '../../../src/forensics/intake.ts';
import { hammingDistance, pdqHashImage } from '../../../src/forensics/pdq/index.ts';
import { reuseQueryHashes } from '../../../src/forensics/reuse/query-hashes.ts';
import { MemoryReuseLookup } from '../../../src/forensics/reuse/memory-lookup.ts';
import { findScreenshotRegions } from '../../../src/forensics/reuse/screenshot-region.ts';

const screenshot = TRANSFORMS.find((t) => t.name === 'screenshot_frame')!.apply;
// Where bench/pdq-robustness-set.ts puts the photo: full width from y = 250, at most 1690 tall.
const truthOf = async (src: Buffer) => {
  const m = await sharp(src).rotate().metadata();
  const w = m.autoOrient?.width ?? m.width!;
  const h = m.autoOrient?.height ?? m.height!;
  return { x: 0, y: 250, width: 1080, height: Math.min(Math.round((h * 1080) / w), 1690) };
};
const iou = (a: { x: number; y: number; width: number; height: number }, b: typeof a) => {
  const ix = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  const inter = ix * iy;
  return inter / (a.width * a.height + b.width * b.height - inter);
};

// every 9th source photo, listing photos on white and in-store photos alike
const sources = listSourcePhotos().filter((_, i) => i % 9 === 4);

test('the photo inside a phone screenshot is found, and hashed it matches the photo again', async () => {
  assert.ok(sources.length >= 30 && sources.some((s) => s.kind === 'listing'));
  let exact = 0;
  for (const s of sources) {
    const shot = await intakeImage(await screenshot(s.bytes), { name: 'shot.jpg' });
    const regions = findScreenshotRegions(await shot.gray());
    assert.ok(regions.length >= 1 && regions.length <= 7, `${s.id}: ${regions.length} regions`);
    const truth = await truthOf(s.bytes);
    const best = Math.max(...regions.map((r) => iou(r, truth)));
    assert.ok(best >= 0.95, `${s.id}: best IoU ${best.toFixed(3)} of ${JSON.stringify(regions)} vs ${JSON.stringify(truth)}`);
    if (regions.some((r) => r.y === truth.y && r.height === truth.height)) exact++;
    // what the matcher queries includes a hash within PDQ's threshold of the source's
    const source = await pdqHashImage(await intakeImage(s.bytes, { name: 's.jpg' }));
    const q = await reuseQueryHashes(shot, 'dct');
    const d = Math.min(...q.queries.map((h) => hammingDistance(h, source.hash)));
    assert.ok(d <= 31, `${s.id}: closest query ${d} bits`);
    const direct = Math.min(...q.queries.filter((_, i) => q.regionOf[i] === -1).map((h) => hammingDistance(h, source.hash)));
    assert.ok(direct > 31, `${s.id}: the whole screenshot alone is ${direct} bits off (PDQ does not survive the frame)`);
  }
  assert.ok(exact >= sources.length * 0.8, `regions exact to the pixel row for ${exact} of ${sources.length}`);
});

test('no region in ordinary photos, flat screens or tiny images', async () => {
  for (const s of sources.slice(0, 8)) {
    const img = await intakeImage(s.bytes, { name: 'p.jpg' });
    assert.deepEqual(findScreenshotRegions(await img.gray()), [], s.id);
    const q = await reuseQueryHashes(img, 'dct');
    assert.equal(q.regions.length, 0);
    assert.ok(q.regionOf.every((r) => r === -1));
  }
  const flat = { data: new Uint8Array(1080 * 2340).fill(200), width: 1080, height: 2340, channels: 1 as const };
  assert.deepEqual(findScreenshotRegions(flat), []);
  assert.deepEqual(findScreenshotRegions({ data: new Uint8Array(10 * 20), width: 10, height: 20, channels: 1 }), []);
});

test('reuse detector: a screenshot of an earlier claim photo is reported with the region that matched', async () => {
  const s = sources.find((x) => x.kind === 'natural')!;
  const reuse = new MemoryReuseLookup();
  const earlier = await pdqHashImage(await intakeImage(s.bytes, { name: 'e.jpg' }));
  reuse.add(earlier.hash, { type: 'claim', id: 'claim-old', buyerId: 'buyer-a' }, earlier.quality);
  const shot = await intakeImage(await screenshot(s.bytes), { name: 'shot.jpg' });
  const signals = await reuseDetector.run(shot, { reuse, claimId: 'claim-new', buyerId: 'buyer-b' });
  const seen = signals.find((x) => x.id === 'reuse.seen_before');
  assert.ok(seen, JSON.stringify(signals.map((x) => x.id)));
  const m = (seen.evidence.matches as any[])[0];
  assert.equal(m.ownerId, 'claim-old');
  assert.ok(m.region && m.region.width === 1080 && m.region.y >= 200, JSON.stringify(m.region));
  assert.equal((seen.evidence.regions as any[]).length, 1);
  assert.match(seen.summary.en, /inside this screenshot/);
  assert.match(seen.summary.zh, /截图中的照片/);
});
