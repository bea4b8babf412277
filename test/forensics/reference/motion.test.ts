// Independent motion (src/forensics/reference/motion.ts) on synthetic pictures whose
// displacement field is known: a picture shifted the same way everywhere (an alignment left a
// sub-pixel offset) or by a smooth field (a slightly wrong homography) has not moved on its
// own; one whose patches moved in different directions (a second exposure: things rolled,
// parallax) has; an edit (a stain) is not motion.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { independentMotion } from '../../../src/forensics/reference/motion.ts';

const W = 300, H = 300;

// a smooth texture that can be sampled anywhere exactly: a sum of plane waves, wavelengths 9–30 px
const waves = Array.from({ length: 14 }, (_, k) => {
  const a = (k * 2.399) % (2 * Math.PI);
  const lambda = 9 + ((k * 7) % 22);
  return { kx: (Math.cos(a) * 2 * Math.PI) / lambda, ky: (Math.sin(a) * 2 * Math.PI) / lambda, phase: k * 1.3, amp: 9 + (k % 4) * 3 };
});
const texture = (x: number, y: number) => 128 + waves.reduce((s, w) => s + w.amp * Math.sin(w.kx * x + w.ky * y + w.phase), 0);

function noise(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

/** The residual's inputs for a claim that is the reference moved by `shift(x, y)`, plus `edit`. */
function pair(shift: (x: number, y: number) => [number, number], edit?: (x: number, y: number) => number) {
  const refRgb = new Uint8Array(W * H * 3);
  const claimRgb = new Uint8Array(W * H * 3);
  const rnd = noise(7);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const [dx, dy] = shift(x, y);
      const r = texture(x, y);
      const c = texture(x - dx, y - dy) + (edit?.(x, y) ?? 0) + 1.5 * rnd();
      for (let ch = 0; ch < 3; ch++) {
        refRgb[3 * i + ch] = Math.max(0, Math.min(255, Math.round(r)));
        claimRgb[3 * i + ch] = Math.max(0, Math.min(255, Math.round(c)));
      }
    }
  }
  const ones = new Uint8Array(W * H).fill(1);
  return { width: W, height: H, valid: ones, object: ones, claimRgb, refRgb };
}

test('the same sub-pixel offset everywhere, or a smooth field, is not motion of its own', () => {
  const global = independentMotion(pair(() => [0.6, -0.4]));
  assert.ok(global.blocks > 50, `blocks ${global.blocks}`);
  assert.ok(global.share < 0.05, JSON.stringify(global));
  // a slightly wrong homography: up to ≈ 1.5 px, varying smoothly (affine) over the frame
  const smooth = independentMotion(pair((x, y) => [0.005 * x - 0.5, 0.004 * y - 0.003 * x]));
  assert.ok(smooth.share < 0.05, JSON.stringify(smooth));
});

test('patches that moved in different directions, as in a second exposure, are', () => {
  // 50 px cells, each shifted by 1–2 px in its own direction
  const cellShift = (x: number, y: number): [number, number] => {
    const k = Math.floor(x / 50) * 7 + Math.floor(y / 50) * 13;
    const a = (k * 2.1) % (2 * Math.PI);
    const m = 1 + (k % 3) * 0.5;
    return [m * Math.cos(a), m * Math.sin(a)];
  };
  const moved = independentMotion(pair(cellShift));
  assert.ok(moved.share >= 0.36, JSON.stringify(moved));
});

test('an edit is new content, not motion', () => {
  // a soft dark stain and a drawn crack on an otherwise exact copy
  const stain = (x: number, y: number) => -40 * Math.exp(-((x - 100) ** 2 + (y - 180) ** 2) / (2 * 25 ** 2));
  const crack = (x: number, y: number) => (Math.abs(y - 0.5 * x - 40) < 1.5 && x > 150 && x < 260 ? -70 : 0);
  const r = independentMotion(pair(() => [0, 0], (x, y) => stain(x, y) + crack(x, y)));
  assert.ok(r.share < 0.05, JSON.stringify(r));
});
