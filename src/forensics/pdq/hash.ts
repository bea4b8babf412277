// PDQ core: luminance → Jarosz box filters → 64×64 decimation → 16×16 DCT → median
// threshold, plus the quality metric and the dihedral (rotation/mirror) transforms of the
// DCT. Follows Meta's reference (facebook/ThreatExchange pdq/cpp) operation by operation.
//
// Bit-exactness: the reference computes in C++ `float` (IEEE single precision, SSE, no FMA).
// Every float operation here is therefore rounded to single precision with Math.fround (or
// by storing into a Float32Array) in the same order as the reference, so that the same
// 8-bit input pixels give the same hash bit for bit. An add/sub/mul/div of two float32
// values done in double and rounded once to float32 equals the float32 operation.

import type { RawPixels } from '../types.ts';

const f32 = Math.fround;

/** The reference tool resamples any image with a side above this to exactly 512×512 first. */
export const DOWNSAMPLE_DIMS = 512;
/** Images with a side below this are not hashed: all-zero hash, quality 0 (as the reference). */
export const MIN_HASHABLE_DIM = 5;
/** Two passes of (rows, columns) box filters approximate a tent filter. */
const JAROSZ_PASSES = 2;

const LUMA_R = f32(0.299);
const LUMA_G = f32(0.587);
const LUMA_B = f32(0.114);
/** The float products coefficient × value for every 8-bit value (same float results, fewer multiplies). */
const LUMA_R_TABLE = Float32Array.from({ length: 256 }, (_, v) => LUMA_R * v);
const LUMA_G_TABLE = Float32Array.from({ length: 256 }, (_, v) => LUMA_G * v);
const LUMA_B_TABLE = Float32Array.from({ length: 256 }, (_, v) => LUMA_B * v);

/**
 * The 16×64 DCT-II basis, rows 1..16 (row 0, the DC term, is never used), scaled by
 * sqrt(2/64). The reference keeps the scale in a float and the product in double before
 * storing it as float; we do the same.
 */
const DCT_MATRIX: Float32Array = (() => {
  const m = new Float32Array(16 * 64);
  const scale = f32(Math.sqrt(2.0 / 64.0));
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 64; j++) {
      m[i * 64 + j] = scale * Math.cos((Math.PI / 2.0 / 64.0) * (i + 1) * (2 * j + 1));
    }
  }
  return m;
})();

/** Luminance plane (row-major float32) in the frame the hash is computed in. */
export interface LumaPlane {
  data: Float32Array;
  rows: number;
  cols: number;
}

// Scratch buffers reused across calls (hashing is synchronous, so there is no sharing).
let scratchA = new Float32Array(0);
let scratchB = new Float32Array(0);
function scratch(n: number): [Float32Array, Float32Array] {
  if (scratchA.length < n) {
    scratchA = new Float32Array(n);
    scratchB = new Float32Array(n);
  }
  return [scratchA.subarray(0, n), scratchB.subarray(0, n)];
}

/**
 * Size of the stored (not oriented) image for pixels that were rotated/mirrored for display
 * according to EXIF orientation 1–8.
 */
function storedSize(p: RawPixels, orientation: number): { width: number; height: number } {
  return orientation >= 5 ? { width: p.height, height: p.width } : { width: p.width, height: p.height };
}

/**
 * Float luminance of the image as the reference tool sees it:
 * - in the *stored* frame of the file (the reference ignores EXIF orientation); `p` holds the
 *   pixels as a viewer sees them and `orientation` is the EXIF orientation that was applied,
 *   so each stored pixel is read at its displayed position (no copy of the image is made);
 * - resampled to exactly 512×512 by nearest neighbour (stored column x reads column
 *   floor(x·W/512), rows likewise) when a side exceeds 512, as the reference's CImg resize;
 * - luma = 0.299 R + 0.587 G + 0.114 B in float; greyscale input is used as is. RGB input in
 *   which every pixel is grey is treated as greyscale too, because the reference's decoder
 *   (ImageMagick → PNM) hands it a one-channel image in that case.
 * Alpha is ignored, as in the reference.
 */
export function storedFrameLuma(p: RawPixels, orientation = 1): LumaPlane {
  if (!(orientation >= 1 && orientation <= 8)) orientation = 1;
  const { width: ws, height: hs } = storedSize(p, orientation);
  const resample = ws > DOWNSAMPLE_DIMS || hs > DOWNSAMPLE_DIMS;
  const cols = resample ? DOWNSAMPLE_DIMS : ws;
  const rows = resample ? DOWNSAMPLE_DIMS : hs;
  const c = p.channels;
  const W = p.width;

  // Source offset of stored pixel (sx, sy) = rowOff[r] + colOff[col], for every orientation.
  // Offsets fit in int32: intake refuses images above 120 MP (360 MB of RGB).
  const colOff = new Int32Array(cols);
  const rowOff = new Int32Array(rows);
  for (let x = 0; x < cols; x++) {
    const sx = resample ? Math.floor((x * ws) / DOWNSAMPLE_DIMS) : x;
    const mx = ws - 1 - sx;
    switch (orientation) {
      case 1: case 4: colOff[x] = sx * c; break;
      case 2: case 3: colOff[x] = mx * c; break;
      case 5: case 6: colOff[x] = sx * W * c; break;
      default: colOff[x] = mx * W * c; break; // 7, 8
    }
  }
  for (let y = 0; y < rows; y++) {
    const sy = resample ? Math.floor((y * hs) / DOWNSAMPLE_DIMS) : y;
    const my = hs - 1 - sy;
    switch (orientation) {
      case 1: case 2: rowOff[y] = sy * W * c; break;
      case 3: case 4: rowOff[y] = my * W * c; break;
      case 5: case 8: rowOff[y] = sy * c; break;
      default: rowOff[y] = my * c; break; // 6, 7
    }
  }

  const out = new Float32Array(rows * cols);
  const d = p.data;
  if (c === 1) {
    for (let y = 0, k = 0; y < rows; y++) {
      const ro = rowOff[y]!;
      for (let x = 0; x < cols; x++, k++) out[k] = d[ro + colOff[x]!]!;
    }
    return { data: out, rows, cols };
  }
  let allGrey = true;
  for (let y = 0, k = 0; y < rows; y++) {
    const ro = rowOff[y]!;
    for (let x = 0; x < cols; x++, k++) {
      const o = ro + colOff[x]!;
      const r = d[o]!;
      const g = d[o + 1]!;
      const b = d[o + 2]!;
      if (allGrey && (r !== g || g !== b)) allGrey = false;
      out[k] = f32(f32(LUMA_R_TABLE[r]! + LUMA_G_TABLE[g]!) + LUMA_B_TABLE[b]!);
    }
  }
  if (allGrey) {
    for (let y = 0, k = 0; y < rows; y++) {
      const ro = rowOff[y]!;
      for (let x = 0; x < cols; x++, k++) out[k] = d[ro + colOff[x]!]!;
    }
  }
  return { data: out, rows, cols };
}

/** Box-filter window per pass so that two passes cover one 64th of the side (rounded up). */
export function jaroszWindowSize(oldDimension: number, newDimension: number): number {
  return Math.trunc((oldDimension + 2 * newDimension - 1) / (2 * newDimension));
}

/**
 * One box-filter pass along every row (`in` → `out`). The window is centred with the
 * reference's phases: a growing window at the start, the full window in the middle and a
 * shrinking one at the end; the running sum is a float.
 */
function boxAlongRows(inp: Float32Array, out: Float32Array, rows: number, cols: number, win: number): void {
  const half = Math.trunc((win + 2) / 2);
  const n1 = half - 1;
  const n2 = win - half + 1;
  const n3 = cols - win;
  const n4 = half - 1;
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let li = base;
    let ri = base;
    let oi = base;
    let sum = 0;
    let size = 0;
    for (let i = 0; i < n1; i++) { sum = f32(sum + inp[ri++]!); size++; }
    for (let i = 0; i < n2; i++) { sum = f32(sum + inp[ri++]!); size++; out[oi++] = sum / size; }
    for (let i = 0; i < n3; i++) { sum = f32(sum + inp[ri++]!); sum = f32(sum - inp[li++]!); out[oi++] = sum / size; }
    for (let i = 0; i < n4; i++) { sum = f32(sum - inp[li++]!); size--; out[oi++] = sum / size; }
  }
}

/**
 * The same pass along every column. Columns are processed side by side, row by row (one
 * float running sum per column), which gives the same arithmetic per column as the
 * reference's column-at-a-time loop while reading memory in order.
 */
function boxAlongCols(inp: Float32Array, out: Float32Array, rows: number, cols: number, win: number, sums: Float32Array): void {
  const half = Math.trunc((win + 2) / 2);
  const n1 = half - 1;
  const n2 = win - half + 1;
  const n3 = rows - win;
  const n4 = half - 1;
  sums.fill(0);
  let li = 0; // row indices
  let ri = 0;
  let oi = 0;
  let size = 0;
  for (let i = 0; i < n1; i++, ri++) {
    const ro = ri * cols;
    for (let j = 0; j < cols; j++) sums[j] = sums[j]! + inp[ro + j]!;
    size++;
  }
  for (let i = 0; i < n2; i++, ri++, oi++) {
    const ro = ri * cols;
    const oo = oi * cols;
    size++;
    for (let j = 0; j < cols; j++) {
      const s = f32(sums[j]! + inp[ro + j]!);
      sums[j] = s;
      out[oo + j] = s / size;
    }
  }
  for (let i = 0; i < n3; i++, ri++, li++, oi++) {
    const ro = ri * cols;
    const lo = li * cols;
    const oo = oi * cols;
    for (let j = 0; j < cols; j++) {
      const s = f32(f32(sums[j]! + inp[ro + j]!) - inp[lo + j]!);
      sums[j] = s;
      out[oo + j] = s / size;
    }
  }
  for (let i = 0; i < n4; i++, li++, oi++) {
    const lo = li * cols;
    const oo = oi * cols;
    size--;
    for (let j = 0; j < cols; j++) {
      const s = f32(sums[j]! - inp[lo + j]!);
      sums[j] = s;
      out[oo + j] = s / size;
    }
  }
}

/** 64×64 float image domain: blur (two Jarosz passes) and decimate at the cell centres. */
function downsampleTo64(luma: LumaPlane, useExact64Shortcut: boolean): Float32Array {
  const { rows, cols } = luma;
  const out = new Float32Array(64 * 64);
  if (useExact64Shortcut && rows === 64 && cols === 64) {
    // The reference's single-hash path takes a 64×64 input as already downsampled.
    out.set(luma.data);
    return out;
  }
  const [buf1, buf2] = scratch(rows * cols);
  buf1.set(luma.data);
  const winAlongRows = jaroszWindowSize(cols, 64);
  const winAlongCols = jaroszWindowSize(rows, 64);
  const sums = new Float32Array(cols);
  for (let pass = 0; pass < JAROSZ_PASSES; pass++) {
    boxAlongRows(buf1, buf2, rows, cols, winAlongRows);
    boxAlongCols(buf2, buf1, rows, cols, winAlongCols, sums);
  }
  for (let i = 0; i < 64; i++) {
    const ini = Math.trunc(((i + 0.5) * rows) / 64);
    for (let j = 0; j < 64; j++) {
      const inj = Math.trunc(((j + 0.5) * cols) / 64);
      out[i * 64 + j] = buf1[ini * cols + inj]!;
    }
  }
  return out;
}

/**
 * The reference's quality metric: the sum of quantised vertical and horizontal gradients of
 * the 64×64 image, scaled by 1/90 and capped at 100. Flat images score low.
 */
export function qualityOf64(a: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < 63; i++) {
    for (let j = 0; j < 64; j++) {
      sum += Math.abs(Math.trunc(f32(f32(f32(a[i * 64 + j]! - a[(i + 1) * 64 + j]!) * 100) / 255)));
    }
  }
  for (let i = 0; i < 64; i++) {
    for (let j = 0; j < 63; j++) {
      sum += Math.abs(Math.trunc(f32(f32(f32(a[i * 64 + j]! - a[i * 64 + j + 1]!) * 100) / 255)));
    }
  }
  return Math.min(100, Math.trunc(sum / 90));
}

/** B = D·A·Dᵀ restricted to the 16×16 low frequencies (DC excluded), float accumulation in k order. */
function dct64To16(a: Float32Array): Float32Array {
  const D = DCT_MATRIX;
  const t = new Float32Array(16 * 64);
  for (let i = 0; i < 16; i++) {
    const di = i * 64;
    for (let j = 0; j < 64; j++) {
      let s = 0;
      for (let k = 0; k < 64; k++) s = f32(s + f32(D[di + k]! * a[k * 64 + j]!));
      t[i * 64 + j] = s;
    }
  }
  const b = new Float32Array(256);
  for (let i = 0; i < 16; i++) {
    const ti = i * 64;
    for (let j = 0; j < 16; j++) {
      const dj = j * 64;
      let s = 0;
      for (let k = 0; k < 64; k++) s = f32(s + f32(t[ti + k]! * D[dj + k]!));
      b[i * 16 + j] = s;
    }
  }
  return b;
}

export interface PdqDct {
  /** 16×16 DCT coefficients (row-major), or undefined for an image too small to hash. */
  dct?: Float32Array;
  quality: number;
}

/**
 * DCT and quality of a luma plane. `useExact64Shortcut` reproduces the reference's plain
 * hashing path, which skips the blur for a 64×64 input; its dihedral path always blurs.
 */
export function pdqDctOf(luma: LumaPlane, useExact64Shortcut = true): PdqDct {
  if (luma.rows < MIN_HASHABLE_DIM || luma.cols < MIN_HASHABLE_DIM) return { quality: 0 };
  const a = downsampleTo64(luma, useExact64Shortcut);
  return { dct: dct64To16(a), quality: qualityOf64(a) };
}

/**
 * Hash bits: 1 where a coefficient is above the median of the 256. The reference's Torben
 * median of 256 values is the lower median (the 128th smallest), found here by sorting.
 */
export function dctToBits(dct: Float32Array): Uint8Array {
  const sorted = Float32Array.from(dct).sort();
  const median = sorted[127]!;
  const bits = new Uint8Array(256);
  for (let k = 0; k < 256; k++) bits[k] = dct[k]! > median ? 1 : 0;
  return bits;
}

// ---------------------------------------------------------------------------------------
// Dihedral transforms. Rotating or mirroring the 64×64 image permutes and sign-flips DCT
// coefficients: reversing an axis multiplies a coefficient of odd frequency index (our
// index is frequency − 1, so an even index) by −1, and swapping the axes transposes.

/** The 8 dihedral variants in the reference's order. */
export const DIHEDRAL_NAMES = ['original', 'rotate90', 'rotate180', 'rotate270', 'flipX', 'flipY', 'flipPlus1', 'flipMinus1'] as const;
export type DihedralName = (typeof DIHEDRAL_NAMES)[number];

/**
 * Variant v of DCT `a`, as the reference computes it. Each variant is described by whether
 * it transposes and which input axes (row index i, column index j) are reversed.
 */
const VARIANT_SPEC: ReadonlyArray<{ transpose: boolean; reverseRows: boolean; reverseCols: boolean }> = [
  { transpose: false, reverseRows: false, reverseCols: false }, // original
  { transpose: true, reverseRows: false, reverseCols: true }, // rotate90: B[j][i] = ±A[i][j], sign from j
  { transpose: false, reverseRows: true, reverseCols: true }, // rotate180: sign from i+j
  { transpose: true, reverseRows: true, reverseCols: false }, // rotate270: sign from i
  { transpose: false, reverseRows: true, reverseCols: false }, // flipX: sign from i
  { transpose: false, reverseRows: false, reverseCols: true }, // flipY: sign from j
  { transpose: true, reverseRows: false, reverseCols: false }, // flipPlus1: plain transpose
  { transpose: true, reverseRows: true, reverseCols: true }, // flipMinus1: transpose, sign from i+j
];

export function dihedralDct(a: Float32Array, variant: number): Float32Array {
  const spec = VARIANT_SPEC[variant];
  if (!spec) throw new RangeError(`dihedral variant ${variant} is not 0–7`);
  const b = new Float32Array(256);
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 16; j++) {
      // Reversing an axis negates the coefficients of even index (odd frequency).
      const negate = (spec.reverseRows && (i & 1) === 0) !== (spec.reverseCols && (j & 1) === 0);
      const v = negate ? -a[i * 16 + j]! : a[i * 16 + j]!;
      if (spec.transpose) b[j * 16 + i] = v;
      else b[i * 16 + j] = v;
    }
  }
  return b;
}

/**
 * The luma plane moved to the geometry of dihedral variant `v` (same numbering as
 * DIHEDRAL_NAMES): rotate90 turns the image 90° counter-clockwise, rotate270 clockwise,
 * flipX swaps top and bottom, flipY left and right, flipPlus1 transposes, flipMinus1
 * transposes about the other diagonal. Hashing the moved plane anew is what the DCT
 * variants approximate.
 */
export function transformLuma(p: LumaPlane, v: number): LumaPlane {
  const { rows, cols, data } = p;
  const swap = v === 1 || v === 3 || v === 6 || v === 7;
  const outRows = swap ? cols : rows;
  const outCols = swap ? rows : cols;
  // Source index of output (r, c) = base + r·dr + c·dc for every variant.
  const last = (rows - 1) * cols;
  const steps: Array<[number, number, number]> = [
    [0, cols, 1], // original
    [cols - 1, -1, cols], // rotate90: (r, c) ← (c, cols−1−r)
    [last + cols - 1, -cols, -1], // rotate180
    [last, 1, -cols], // rotate270: (r, c) ← (rows−1−c, r)
    [last, -cols, 1], // flipX: top ↔ bottom
    [cols - 1, cols, -1], // flipY: left ↔ right
    [0, 1, cols], // flipPlus1: transpose
    [last + cols - 1, -1, -cols], // flipMinus1
  ];
  const step = steps[v];
  if (!step) throw new RangeError(`dihedral variant ${v} is not 0–7`);
  const [base, dr, dc] = step;
  const out = new Float32Array(rows * cols);
  for (let r = 0, k = 0; r < outRows; r++) {
    let src = base + r * dr;
    for (let c = 0; c < outCols; c++, k++, src += dc) out[k] = data[src]!;
  }
  return { data: out, rows: outRows, cols: outCols };
}

/**
 * DCTs of the plane moved to each of the 8 dihedral geometries and hashed anew (see
 * transformLuma), in variant order, plus the quality of the unmoved plane. Blurring is
 * separable, so a transposed geometry needs no blur of its own: its 64×64 image is the
 * transpose of the 64×64 image of the same plane mirrored, blurred in the other axis order
 * (which changes only float rounding). So 4 blurs serve all 8 geometries.
 */
export function rehashedDcts(p: LumaPlane): { dcts: Float32Array[]; quality: number } | undefined {
  if (p.rows < MIN_HASHABLE_DIM || p.cols < MIN_HASHABLE_DIM) return undefined;
  const small = new Map<number, Float32Array>();
  for (const v of [0, 2, 4, 5]) small.set(v, downsampleTo64(v === 0 ? p : transformLuma(p, v), true));
  const transposeOf: Record<number, number> = { 1: 5, 3: 4, 6: 0, 7: 2 };
  const dcts: Float32Array[] = [];
  for (let v = 0; v < 8; v++) {
    const from = transposeOf[v];
    let a = small.get(v);
    if (from !== undefined) {
      const src = small.get(from)!;
      a = new Float32Array(64 * 64);
      for (let i = 0; i < 64; i++) for (let j = 0; j < 64; j++) a[j * 64 + i] = src[i * 64 + j]!;
    }
    dcts.push(dct64To16(a!));
  }
  return { dcts, quality: qualityOf64(small.get(0)!) };
}
