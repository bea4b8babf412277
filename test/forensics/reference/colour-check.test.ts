// The local colour check (src/forensics/reference/colour-check.ts) on synthetic residual
// inputs: a patch whose colour alone changed (the same change over the patch and, where its
// colour occurs, around it) is explained by one gain and offset per channel; a stain, a drawn
// crack or a pasted piece changes a place while the same colours around it stay: not explained.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { recolouredOnly } from '../../../src/forensics/reference/colour-check.ts';
import type { ChangeRegion } from '../../../src/forensics/reference/residual.ts';

const W = 120, H = 120;
const box: ChangeRegion = { x: 40, y: 40, width: 40, height: 40, area: 1600, strength: 30 };

type Rgb = [number, number, number];
/** Reference: a grey-green textured carton with an orange patch (a cap) in the box. */
function scene(claimAt: (x: number, y: number, ref: Rgb, inPatch: boolean) => Rgb) {
  const refRgb = new Uint8Array(W * H * 3), claimRgb = new Uint8Array(W * H * 3);
  const changed = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const t = 20 * Math.sin(x / 5) * Math.cos(y / 7);
      const inPatch = x >= 45 && x < 75 && y >= 45 && y < 75;
      const ref: Rgb = inPatch ? [230 + t / 4, 130 + t / 2, 30 + t / 4] : [90 + t, 150 + t, 90 + t];
      const c = claimAt(x, y, ref, inPatch);
      for (let k = 0; k < 3; k++) {
        refRgb[3 * i + k] = Math.round(ref[k]!);
        claimRgb[3 * i + k] = Math.max(0, Math.min(255, Math.round(c[k]!)));
      }
      if (x >= box.x && x < box.x + box.width && y >= box.y && y < box.y + box.height && Math.abs(c[0]! - ref[0]) + Math.abs(c[1]! - ref[1]) + Math.abs(c[2]! - ref[2]) > 20) changed[i] = 1;
    }
  }
  const valid = new Uint8Array(W * H).fill(1);
  return { r: { width: W, height: H, valid, claimRgb, refRgb }, changed };
}

test('a colour the global model left wrong (the orange patch shifted, everything else fitted) is explained', () => {
  const { r, changed } = scene((_x, _y, ref, inPatch) => (inPatch ? [ref[0] + 18, ref[1] - 25, ref[2] + 12] : ref));
  assert.ok(changed.some((v) => v === 1));
  assert.equal(recolouredOnly(r, box, changed, 13.2), true);
});

test('a stain, a crack or a pasted piece on the same picture is not', () => {
  const stain = scene((x, y, ref) => {
    const k = 1 - 0.45 * Math.exp(-((x - 60) ** 2 + (y - 62) ** 2) / (2 * 9 ** 2));
    return [ref[0] * k, ref[1] * k, ref[2] * k];
  });
  assert.equal(recolouredOnly(stain.r, box, stain.changed, 13.2), false);
  const crack = scene((x, y, ref) => (Math.abs(y - x) < 1.5 && x > 42 && x < 78 ? [ref[0] - 80, ref[1] - 80, ref[2] - 80] : ref));
  assert.equal(recolouredOnly(crack.r, box, crack.changed, 13.2), false);
  // a piece of the carton's green pasted over half the patch
  const pasted = scene((x, y, ref, inPatch) => (inPatch && x >= 60 ? [100, 160, 100] : ref));
  assert.equal(recolouredOnly(pasted.r, box, pasted.changed, 13.2), false);
});

test('a region at the edge of the overlap, with less surrounding than region, is not judged', () => {
  const { r, changed } = scene((_x, _y, ref, inPatch) => (inPatch ? [ref[0] + 18, ref[1] - 25, ref[2] + 12] : ref));
  // only the region's own box is inside the overlap
  r.valid.fill(0);
  for (let y = box.y; y < box.y + box.height; y++) r.valid.fill(1, y * W + box.x, y * W + box.x + box.width);
  assert.equal(recolouredOnly(r, box, changed, 13.2), false);
});
