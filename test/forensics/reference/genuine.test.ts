// Genuine counterparts must not be called derived; a plain re-encode of the reference is a
// copy; an unrelated photo gives nothing.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import sharp from 'sharp';
import { genuineClaim, photoClasses, reference, runCheck } from './helpers.ts';

const classes = photoClasses();
const byName = (n: string) => classes.find((c) => c.name === n)!;

test('independent photos of the same product are not derived from the listing photo', async () => {
  for (const name of ['Alpro-Blueberry-Soyghurt', 'Arla-Sour-Cream', 'Banana']) {
    const c = byName(name);
    const signals = await runCheck(await genuineClaim(c.natural[1]!, name), [await reference(c.listing)]);
    assert.ok(!signals.some((s) => s.id === 'reference.derived' || s.id === 'reuse.reference_copy'), `${name}: ${signals.map((s) => s.id)}`);
  }
});

test('in-store photos of the same shelf taken seconds apart are not derived from each other', async () => {
  for (const name of ['Garant-Ecological-Medium-Fat-Milk', 'Arla-Ecological-Sour-Cream']) {
    const c = byName(name);
    const signals = await runCheck(await genuineClaim(c.natural[2]!, name), [await reference(c.natural[0]!), await reference(c.natural[1]!, 'b.jpg')]);
    assert.ok(!signals.some((s) => s.id === 'reference.derived' || s.id === 'reuse.reference_copy'), `${name}: ${signals.map((s) => s.id)}`);
  }
});

test('burst shots of a pile of pears: a good overall fit, but parts of the picture moved on their own', async () => {
  // Conference_012 was taken seconds after Conference_001 from almost the same spot: after
  // alignment it fits at a mean residual ≈ 3, but the pears that rolled and the parallax of a
  // slightly moved camera shift its parts by a pixel or two, each its own way; a picture made
  // from the reference is one geometric transformation of its pixels. Uploaded as a JPEG at
  // quality 80 (an explicit input; the next test sweeps the qualities).
  const c = byName('Conference');
  const claim = await sharp(readFileSync(c.natural[1]!)).rotate().jpeg({ quality: 80 }).toBuffer();
  const signals = await runCheck(claim, [await reference(c.natural[0]!)]);
  assert.ok(!signals.some((s) => s.id === 'reference.derived' || s.id === 'reuse.reference_copy'), `${signals.map((s) => s.id)}`);
  const same = signals.find((s) => s.id === 'reference.same_product');
  assert.ok(same, `got ${signals.map((s) => s.id)}`);
  const ev = same.evidence.reference as { movedShare: number; fitResidual: number };
  assert.ok(ev.fitResidual < 8, `fit ${ev.fitResidual}`);
  assert.ok(ev.movedShare >= 0.36, JSON.stringify(ev));
  assert.equal(same.evidence.movedOnItsOwn, true);
  assert.match(same.summary.en, /differ from place to place/);
  assert.match(same.summary.zh, /位移/);
});

// Found 2026-12-04: the earlier burst-shot rule (≥ 8 separate places of misfit, none holding
// half of it) sat at the edge for this pair — uploaded at JPEG quality 71 it showed 7 places,
// at 81 the largest held 54 %, and both were called derived. The motion rule does not count
// places: 47–50 % of the item's textured blocks moved on their own at every quality 70–92
// (limit 36 %).
test('burst shots are never called derived, whatever the upload quality (JPEG q70–92)', async () => {
  const c = byName('Conference');
  const ref = await reference(c.natural[0]!);
  const derivedAt: number[] = [];
  for (let q = 70; q <= 92; q++) {
    const claim = await sharp(readFileSync(c.natural[1]!)).rotate().jpeg({ quality: q }).toBuffer();
    const signals = await runCheck(claim, [ref]);
    if (signals.some((s) => s.id === 'reference.derived' || s.id === 'reuse.reference_copy')) derivedAt.push(q);
  }
  assert.deepEqual(derivedAt, [], `derived (or copy) at JPEG qualities ${derivedAt.join(', ')}`);
});

test('a carton photographed in a store is reported as the same product (info)', async () => {
  const c = byName('Tropicana-Mandarin-Morning');
  const signals = await runCheck(await genuineClaim(c.natural[0]!, 'x'), [await reference(c.natural[1]!, 'shelf.jpg')]);
  const s = signals.find((x) => x.id === 'reference.same_product');
  assert.ok(s, `got ${signals.map((x) => x.id)}`);
  assert.equal(s.verdict, 'info');
});

test('the reference re-encoded, resized and cropped is reuse.reference_copy', async () => {
  const c = byName('Oatly-Oat-Milk');
  const big = await sharp(readFileSync(c.listing)).resize(700, 700, { kernel: 'lanczos3' }).jpeg({ quality: 95 }).toBuffer();
  const claims = [
    await sharp(big).jpeg({ quality: 30 }).toBuffer(),
    await sharp(big).extract({ left: 60, top: 40, width: 560, height: 600 }).resize(400).jpeg({ quality: 80 }).toBuffer(),
    await sharp(big).flop().jpeg({ quality: 85 }).toBuffer(),
  ];
  for (const claim of claims) {
    const signals = await runCheck(claim, [await reference(c.listing)]);
    const copy = signals.find((s) => s.id === 'reuse.reference_copy');
    assert.ok(copy, `got ${signals.map((s) => s.id)}`);
    assert.equal(copy.verdict, 'suspicious');
    assert.ok(!signals.some((s) => s.id === 'reference.derived'));
  }
});

test('an unrelated photo gives no signal; no references gives no signal', async () => {
  const a = byName('Alpro-Shelf-Soy-Milk');
  const b = byName('Red-Beet');
  assert.deepEqual(await runCheck(await genuineClaim(b.natural[0]!, 'y'), [await reference(a.listing), await reference(a.natural[0]!, 'p.jpg')]), []);
  assert.deepEqual(await runCheck(await genuineClaim(b.natural[0]!, 'y'), []), []);
});
