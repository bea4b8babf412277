// Pure copies (the merchant's reference put through a forger's transformation with no edit)
// are reuse.reference_copy, never reference.derived; the fine pass for quiet claims finds
// small chips and thin cracks that stay below the usual threshold; ECC's refinement is taken
// beyond its usual leash when it clearly fits better.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeCopy } from '../../../bench/forgery/dataset.ts';
import type { TransformName } from '../../../bench/forgery/transforms.ts';
import { compareWithReferences, touchesBorder } from '../../../src/forensics/reference/compare.ts';
import { CHANGE_FLOOR, quietFloor } from '../../../src/forensics/reference/residual.ts';
import { intakeImage } from '../../../src/forensics/intake.ts';
import { boxIoU, makeForgery, overlapsMask, photoClasses, reference, runCheck } from './helpers.ts';

const classes = photoClasses();
const byName = (n: string) => classes.find((c) => c.name === n)!;

/** Each pure copy (the class's listing or first in-store photo, transformed, no edit) is reported as a copy, never as derived. */
async function assertCopies(cases: [string, 'listing' | 'natural', TransformName][]): Promise<void> {
  for (const [name, kind, tr] of cases) {
    const c = byName(name);
    const ref = kind === 'listing' ? c.listing : c.natural[0]!;
    const signals = await runCheck(await makeCopy(ref, tr), [await reference(ref)]);
    assert.ok(!signals.some((s) => s.id === 'reference.derived'), `${name}/${kind}/${tr}: ${signals.map((s) => s.id)}`);
    assert.ok(signals.some((s) => s.id === 'reuse.reference_copy'), `${name}/${kind}/${tr}: ${signals.map((s) => s.id)}`);
  }
}

test('pure copies after a colour change are copies: the colour model undoes a saturation change on a small logo', async () => {
  // each of these was reported derived before the colour fit weighted rare colours and was
  // refitted through the inverse tone curves (a green logo on a red-and-white carton, the
  // blue of a yoghurt pot, the yellow of a banana left as residual)
  await assertCopies([
    ['Arla-Standard-Milk', 'listing', 'colour'],
    ['Arla-Standard-Milk', 'listing', 'combined'],
    ['Banana', 'listing', 'colour'],
    ['Alpro-Blueberry-Soyghurt', 'listing', 'combined'],
  ]);
});

test('pure copies whose colour change the global model leaves on one colour are copies: one gain and offset per channel explain the region and its surroundings', async () => {
  // derived before the local colour check (classes 1–20, seeds independent of the checkout):
  // a beige splash on a soy-milk carton, a potato's highlight, an orange cap on a green carton
  // (a colour found nowhere else in the picture), a grapefruit carton after the combined
  // transformation
  await assertCopies([
    ['Alpro-Shelf-Soy-Milk', 'listing', 'colour'],
    ['Floury-Potato', 'listing', 'colour'],
    ['Bravo-Apple-Juice', 'listing', 'combined'],
    ['God-Morgon-Orange-Red-Grapefruit-Juice', 'listing', 'combined'],
  ]);
});

test('noisy pure copies (JPEG q12, 25 % resize, colour + q60) stay copies: the fine pass does not run there', async () => {
  // residual peaks of 19–28 from JPEG blocks, resampling and colour clipping, with a 99.5th
  // percentile of 5–12 (the last one was derived with the fine pass allowed up to p99.5 = 5)
  await assertCopies([
    ['Arla-Sour-Cream', 'natural', 'combined'],
    ['Alpro-Blueberry-Soyghurt', 'natural', 'jpeg_q12'],
    ['Alpro-Blueberry-Soyghurt', 'listing', 'resize25'],
    ['Arla-Ecological-Sour-Cream', 'listing', 'resize25'],
  ]);
});

test('quiet floor: follows the residual’s 99.5th percentile (12–16); no fine pass above p99.5 = 4', () => {
  assert.equal(quietFloor({ p995: 0 }), 12);
  assert.equal(quietFloor({ p995: 4 }), 16);
  assert.equal(quietFloor({ p995: 5 }), CHANGE_FLOOR);
  assert.equal(quietFloor({ p995: 8 }), CHANGE_FLOOR);
  assert.equal(quietFloor({ p995: 30 }), CHANGE_FLOOR);
});

test('a thin crack and a small chip below the usual threshold on a quiet claim: found by the fine pass', async () => {
  // both were reported as reuse.reference_copy before: residual peaks 24 and 16 over 8–12 px
  for (const id of ['God-Morgon-Apple-Juice/listing/crack/crop30', 'Arla-Standard-Milk/listing/chip/crop30']) {
    const [name, , kind, tr] = id.split('/') as [string, string, 'crack', TransformName];
    const c = byName(name);
    const f = await makeForgery(c.listing, 'listing', kind, tr, id);
    const { findings } = await compareWithReferences(await intakeImage(f.claim, { name: 'c.jpg' }), [await reference(c.listing)]);
    assert.equal(findings[0]!.relation, 'derived', id);
    assert.equal(findings[0]!.quietPass, true, `${id}: expected the fine pass to find it (else this tests nothing)`);
    const signals = await runCheck(f.claim, [await reference(c.listing)]);
    const d = signals.find((s) => s.id === 'reference.derived');
    assert.ok(d, `${id}: got ${signals.map((s) => s.id)}`);
    assert.ok(overlapsMask(d.evidence.regions ?? [], f.mask, f.width), `${id}: a region on the edit`);
  }
});

test('a shrunk claim whose feature fit is off at the corners: ECC’s better fit is taken, the box is on the dirt', async () => {
  // 62 inliers on a 215 px claim: the feature homography is off by ≈ 100 px at the corners of
  // the working frame; ECC converges (correlation 0.99 vs 0.92) and the box fits the dirt
  const c = byName('Anjou');
  const f = await makeForgery(c.listing, 'listing', 'dirt', 'resize25', 'Anjou/listing/dirt/resize25');
  const signals = await runCheck(f.claim, [await reference(c.listing)]);
  const d = signals.find((s) => s.id === 'reference.derived');
  assert.ok(d, `got ${signals.map((s) => s.id)}`);
  const iou = boxIoU(d.evidence.regions ?? [], f.mask, f.width, f.height);
  assert.ok(iou >= 0.8, `IoU ${iou.toFixed(3)} (0.09 with the feature fit)`);
});

test('fine pass: slivers at the edge of the overlap are not edits', async () => {
  const valid = new Uint8Array(100 * 100).fill(1);
  for (let y = 0; y < 100; y++) valid[y * 100 + 99] = 0;
  const res = { width: 100, height: 100, valid };
  const box = (x: number, y: number) => ({ x, y, width: 3, height: 6, area: 12, strength: 15 });
  assert.equal(touchesBorder(box(0, 40), res, 2), true); // the frame's edge
  assert.equal(touchesBorder(box(95, 40), res, 2), true); // the overlap's edge
  assert.equal(touchesBorder(box(50, 40), res, 2), false);
  // a pure copy cropped by 30 %: a 2×5 px sliver at the crop's edge passed the fine threshold
  const c = byName('Nectarine');
  const signals = await runCheck(await makeCopy(c.listing, 'crop30'), [await reference(c.listing)]);
  assert.ok(!signals.some((s) => s.id === 'reference.derived'), `${signals.map((s) => s.id)}`);
});
