import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fdct8x8, fdctAt, idct8x8, idctQuarter, ZIGZAG } from '../../../src/forensics/jpeg/dct.ts';
import { xorshift32 } from '../../helpers/xorshift.ts';

test('DCT: round trip, a flat block is DC only, and the partial transforms equal the full ones', () => {
  const rng = xorshift32(7);
  const src = new Float64Array(64);
  const coef = new Float64Array(64);
  const back = new Float64Array(64);
  for (let trial = 0; trial < 50; trial++) {
    for (let i = 0; i < 64; i++) src[i] = (rng() & 255) - 128;
    fdct8x8(src, coef);
    idct8x8(coef, back);
    for (let i = 0; i < 64; i++) assert.ok(Math.abs(back[i]! - src[i]!) < 1e-9);
    const some = new Float64Array(20);
    const idx = Array.from(ZIGZAG.subarray(1, 21));
    fdctAt(src, idx, some);
    idx.forEach((k, i) => assert.ok(Math.abs(some[i]! - coef[k]!) < 1e-9));
    const corner = new Float64Array(16);
    for (const [r0, c0] of [[0, 0], [0, 4], [4, 0], [4, 4]] as const) {
      idctQuarter(coef, r0, c0, corner);
      for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) assert.ok(Math.abs(corner[r * 4 + c]! - back[(r0 + r) * 8 + c0 + c]!) < 1e-9);
    }
  }
  fdct8x8(new Float64Array(64).fill(10), coef);
  assert.ok(Math.abs(coef[0]! - 80) < 1e-9, 'orthonormal: DC of a flat 10 is 80');
  for (let i = 1; i < 64; i++) assert.ok(Math.abs(coef[i]!) < 1e-9);
});
