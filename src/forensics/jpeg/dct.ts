// The 8×8 DCT of JPEG (ITU T.81 A.3.3), in floating point. JPEG's transform is orthonormal,
// so a pixel rounding error of variance 1/12 stays 1/12 on every coefficient; the double
// compression model relies on that. Separable: 2 × 8 one-dimensional passes per block.

/** Natural (row-major) index of the k-th coefficient in zig-zag order (ITU T.81 figure A.6). */
export const ZIGZAG = new Uint8Array([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
  28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61,
  54, 47, 55, 62, 63,
]);

/** basis[u * 8 + x] = C(u)/2 · cos((2x+1)uπ/16), the orthonormal 1-D DCT-II matrix. */
const BASIS = (() => {
  const b = new Float64Array(64);
  for (let u = 0; u < 8; u++) {
    const c = u === 0 ? Math.SQRT1_2 : 1;
    for (let x = 0; x < 8; x++) b[u * 8 + x] = (c / 2) * Math.cos(((2 * x + 1) * u * Math.PI) / 16);
  }
  return b;
})();

const tmp = new Float64Array(64);

/**
 * One 8-point pass: out[o + u·os] = Σx m[u][x] · src[i + x·is] for u = 0…7, with m the basis
 * (forward) or its transpose (inverse). Unrolled over x: this runs tens of thousands of times
 * per photo, and the rolled loop was the double-compression check's largest cost.
 */
function pass(m: Float64Array, src: Float64Array, i: number, is: number, out: Float64Array, o: number, os: number): void {
  const x0 = src[i]!, x1 = src[i + is]!, x2 = src[i + 2 * is]!, x3 = src[i + 3 * is]!;
  const x4 = src[i + 4 * is]!, x5 = src[i + 5 * is]!, x6 = src[i + 6 * is]!, x7 = src[i + 7 * is]!;
  for (let u = 0; u < 8; u++) {
    const r = u * 8;
    out[o + u * os] = m[r]! * x0 + m[r + 1]! * x1 + m[r + 2]! * x2 + m[r + 3]! * x3 + m[r + 4]! * x4 + m[r + 5]! * x5 + m[r + 6]! * x6 + m[r + 7]! * x7;
  }
}

const BASIS_T = (() => {
  const t = new Float64Array(64);
  for (let u = 0; u < 8; u++) for (let x = 0; x < 8; x++) t[x * 8 + u] = BASIS[u * 8 + x]!;
  return t;
})();

/**
 * Forward DCT of an 8×8 block of level-shifted samples (`src`, row-major, already minus
 * 128) into `out` (natural order, unquantized).
 */
export function fdct8x8(src: Float64Array, out: Float64Array): void {
  // rows: tmp[y][u] = Σx basis[u][x] · src[y][x]
  for (let y = 0; y < 8; y++) pass(BASIS, src, y * 8, 1, tmp, y * 8, 1);
  // columns: out[v][u] = Σy basis[v][y] · tmp[y][u]
  for (let u = 0; u < 8; u++) pass(BASIS, tmp, u, 8, out, u, 8);
}

/** Inverse of `fdct8x8`: coefficients (natural order, dequantized) to level-shifted samples. */
export function idct8x8(coef: Float64Array, out: Float64Array): void {
  // columns: tmp[y][u] = Σv basis[v][y] · coef[v][u]
  for (let u = 0; u < 8; u++) pass(BASIS_T, coef, u, 8, tmp, u, 8);
  // rows: out[y][x] = Σu basis[u][x] · tmp[y][u]
  for (let y = 0; y < 8; y++) pass(BASIS_T, tmp, y * 8, 1, out, y * 8, 1);
}

/**
 * A 4×4 corner of the inverse DCT: samples [r0, r0 + 4) × [c0, c0 + 4) (r0, c0 ∈ {0, 4}) of the
 * block whose coefficients are `coef`, into `out` (4×4, row-major). The calibration of the
 * double-compression model needs only the quarter of each block its shifted window covers; a
 * full transform per block did 2.7× the work.
 */
export function idctQuarter(coef: Float64Array, r0: number, c0: number, out: Float64Array): void {
  for (let yy = 0; yy < 4; yy++) {
    const y = r0 + yy;
    for (let u = 0; u < 8; u++) {
      let s = 0;
      for (let v = 0; v < 8; v++) s += BASIS[v * 8 + y]! * coef[v * 8 + u]!;
      tmp[yy * 8 + u] = s;
    }
  }
  for (let yy = 0; yy < 4; yy++) {
    for (let xx = 0; xx < 4; xx++) {
      const x = c0 + xx;
      let s = 0;
      for (let u = 0; u < 8; u++) s += BASIS[u * 8 + x]! * tmp[yy * 8 + u]!;
      out[yy * 4 + xx] = s;
    }
  }
}

/** The forward DCT's coefficients at the given natural indices only, into `out` (same order). */
export function fdctAt(src: Float64Array, indices: ArrayLike<number>, out: Float64Array): void {
  for (let y = 0; y < 8; y++) pass(BASIS, src, y * 8, 1, tmp, y * 8, 1);
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i]!;
    const v = k >> 3;
    const u = k & 7;
    let s = 0;
    for (let y = 0; y < 8; y++) s += BASIS[v * 8 + y]! * tmp[y * 8 + u]!;
    out[i] = s;
  }
}
