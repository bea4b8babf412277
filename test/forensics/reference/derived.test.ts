// Each forger's transformation, on generated forgeries: the claim must be reported as
// derived from the reference, with regions on the true edit.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EDIT_KINDS } from '../../../bench/forgery/edits.ts';
import { TRANSFORMS } from '../../../bench/forgery/transforms.ts';
import { makeForgery, overlapsMask, photoClasses, reference, runCheck } from './helpers.ts';

const classes = photoClasses();
// product classes whose listing photos differ in kind: cartons, fruit, vegetables, bread
const picks = ['Alpro-Shelf-Soy-Milk', 'Golden-Delicious', 'Red-Beet', 'Oatly-Oat-Milk', 'Kaiser', 'Aubergine'];

for (const [ti, transform] of TRANSFORMS.entries()) {
  test(`reference.derived survives ${transform}`, async () => {
    // one forgery per transformation; products and damage kinds rotate across them
    for (const k of [0]) {
      const cls = classes.find((c) => c.name === picks[(ti + 3 * k) % picks.length])!;
      const kind = EDIT_KINDS[(ti + 4 * k) % EDIT_KINDS.length]!;
      const f = await makeForgery(cls.listing, 'listing', kind, transform, `test/${cls.name}/${kind}/${transform}`);
      const signals = await runCheck(f.claim, [await reference(cls.listing)]);
      const d = signals.find((s) => s.id === 'reference.derived');
      assert.ok(d, `${cls.name} ${kind} ${transform}: expected reference.derived, got ${signals.map((s) => s.id).join(',') || 'nothing'}`);
      assert.equal(d.verdict, 'tampered');
      const regions = d.evidence.regions ?? [];
      assert.ok(regions.length > 0);
      assert.ok(overlapsMask(regions, f.mask, f.width), `${cls.name} ${kind} ${transform}: no region on the edit`);
      for (const r of regions) {
        assert.ok(r.x >= 0 && r.y >= 0 && r.x + r.width <= f.width + 1 && r.y + r.height <= f.height + 1, 'region inside the claim photo');
      }
      assert.equal((d.evidence.reference as { id: string }).id, 'listing.jpg');
      assert.ok(typeof d.evidence.shareOfObject === 'number' && d.evidence.shareOfObject > 0 && d.evidence.shareOfObject < 0.5);
      assert.equal(d.evidence.heatmap?.mime, 'image/png');
      assert.ok(d.summary.en.length > 0 && d.summary.zh.length > 0 && d.why?.en && d.why?.zh);
    }
  });
}

test('reference.derived from an in-store photo used as the reference', async () => {
  const cls = classes.find((c) => c.name === 'Arla-Standard-Milk')!;
  const f = await makeForgery(cls.natural[0]!, 'natural', 'stain', 'jpeg_q40', 'test/natural-ref');
  const signals = await runCheck(f.claim, [await reference(cls.natural[0]!, 'packing.jpg')]);
  const d = signals.find((s) => s.id === 'reference.derived');
  assert.ok(d, `got ${signals.map((s) => s.id).join(',') || 'nothing'}`);
  assert.ok(overlapsMask(d.evidence.regions ?? [], f.mask, f.width));
});

test('dirt specks that take all of the claim’s strongest corners: aligned by the dense second pass', async () => {
  // drawn dirt on a bread roll, then a keystone: the 800 strongest ORB corners of the claim
  // sit on the specks and the first pass finds no consensus; 3000 features do
  const cls = classes.find((c) => c.name === 'Kaiser')!;
  const f = await makeForgery(cls.listing, 'listing', 'dirt', 'perspective', 'Kaiser/listing/dirt/perspective');
  const { compareWithReferences } = await import('../../../src/forensics/reference/compare.ts');
  const { intakeImage } = await import('../../../src/forensics/intake.ts');
  const { findings } = await compareWithReferences(await intakeImage(f.claim, { name: 'c.jpg' }), [await reference(cls.listing)]);
  assert.equal(findings[0]!.matching?.dense, true, 'the first pass should not have aligned (else this test tests nothing)');
  assert.equal(findings[0]!.relation, 'derived');
  const signals = await runCheck(f.claim, [await reference(cls.listing)]);
  const d = signals.find((s) => s.id === 'reference.derived');
  assert.ok(d, `got ${signals.map((s) => s.id).join(',') || 'nothing'}`);
  assert.ok(overlapsMask(d.evidence.regions ?? [], f.mask, f.width), 'a region on the dirt');
});

test('a smooth object (garlic bulb on white) shrunk or cropped: aligned with low-contrast features', async () => {
  // the 198 px listing photo of a garlic bulb has 68 ORB corners above the usual FAST
  // threshold; cropped to 70 % the claim has 47: no consensus until both sides are
  // described at the low-contrast threshold
  const cls = classes.find((c) => c.name === 'Garlic')!;
  for (const [kind, transform] of [['missing', 'crop30'], ['dirt', 'resize25']] as const) {
    const f = await makeForgery(cls.listing, 'listing', kind, transform, `Garlic/listing/${kind}/${transform}`);
    const signals = await runCheck(f.claim, [await reference(cls.listing)]);
    const d = signals.find((s) => s.id === 'reference.derived');
    assert.ok(d, `${kind}/${transform}: got ${signals.map((s) => s.id).join(',') || 'nothing'}`);
    assert.ok(overlapsMask(d.evidence.regions ?? [], f.mask, f.width), `${kind}/${transform}: a region on the edit`);
  }
});
