// findChanges on synthetic residuals: the minimum area applies to an edit (a group of nearby
// pieces), not to each piece; and misfit scattered over many places is measured so that an
// independent exposure (a burst shot) is not taken for an edit.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findChanges, type ResidualResult } from '../../../src/forensics/reference/residual.ts';

const W = 300;
const H = 300;

function residual(blobs: { x: number; y: number; size: number; value: number }[]): ResidualResult {
  const res = new Uint8Array(W * H);
  for (const b of blobs) for (let y = b.y; y < b.y + b.size; y++) for (let x = b.x; x < b.x + b.size; x++) res[y * W + x] = b.value;
  const valid = new Uint8Array(W * H).fill(1);
  return { width: W, height: H, scale: 1, residual: res, valid, object: valid, validArea: W * H, objectArea: W * H, overlapShareOfClaim: 1, median: 0, p75: 0, p995: 0 };
}

test('dirt specks: pieces each below the minimum area count as one edit when they are close together', async () => {
  // minimum area = 0.08 % of 90 000 px = 72 px; each speck is 6×6 = 36 px
  const specks = [0, 1, 2, 3].map((k) => ({ x: 100 + k * 8, y: 120 + (k % 2) * 7, size: 6, value: 60 }));
  const close = await findChanges(residual(specks));
  assert.equal(close.regions.length, 4);
  assert.ok(close.changedArea >= 4 * 30);
  // the same specks far apart are four unrelated dots, each too small
  const apart = specks.map((s, k) => ({ ...s, x: 20 + k * 70, y: 20 + k * 70 }));
  const far = await findChanges(residual(apart));
  assert.equal(far.regions.length, 0);
  assert.equal(far.misfit.places, 4);
});

test('misfit places: one edit is one place; many scattered patches are many places, none dominant', async () => {
  const one = await findChanges(residual([{ x: 120, y: 120, size: 30, value: 50 }]));
  assert.equal(one.misfit.places, 1);
  assert.equal(one.misfit.largestShare, 1);
  const scattered: { x: number; y: number; size: number; value: number }[] = [];
  for (let i = 0; i < 4; i++) for (let j = 0; j < 3; j++) scattered.push({ x: 15 + i * 72, y: 20 + j * 95, size: 10 + ((i + j) % 3) * 2, value: 30 });
  const many = await findChanges(residual(scattered));
  assert.equal(many.misfit.places, 12);
  assert.ok(many.misfit.largestShare < 0.2, String(many.misfit.largestShare));
  // weak patches (below the high threshold) are not misfit places
  const weak = await findChanges(residual(scattered.map((s) => ({ ...s, value: 15 }))));
  assert.equal(weak.misfit.places, 0);
});
