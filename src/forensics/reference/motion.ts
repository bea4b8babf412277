// Independent motion: is the claim one planar warp of the reference (a derived or copied
// picture), or a second exposure of the scene (a burst shot), in which things moved and
// parallax shifted near and far parts differently?
//
// A derived picture is the reference's own pixels put through one geometric transformation
// (resize, crop, rotation, perspective: a homography), which the alignment recovers; after it,
// whatever is left of the misalignment is the same small displacement everywhere, or a
// smoothly varying one (an alignment error is a slightly wrong homography), and the misfit is
// new content in the edited places. A second exposure taken seconds later from almost the
// same spot fits almost as well overall, but its misfit is *displacement*: pears that rolled,
// a box nudged, the shelf edge seen from 2 cm further left — shifts of a pixel or two that
// change direction from one place to the next.
//
// Measured per block of the residual's frame (the blurred claim against the aligned,
// colour-matched reference, grey, blurred a little more so that speckle at the detail limit
// does not count): the local displacement d that best explains the claim as the reference
// moved (Lucas–Kanade, iterated), how much of the block's misfit that displacement explains,
// and how far d departs from the common motion field of all blocks (quadratic in the position:
// it absorbs a global sub-pixel offset and a slightly wrong homography). A block *moved on its
// own* when its misfit is notable, a displacement explains ≥ 40 % of it, and the displacement
// departs from the common field by ≥ 0.75 px. Blocks near the candidate edits are left out: an
// edit that moves an outline (a missing piece, a chip) looks like motion where it is, but only
// there. Pictures with fewer than 40 textured blocks are not judged (share 0).

import type { ResidualResult } from './residual.ts';

export const MOTION = {
  /** block side as a share of the frame's long side (at least 8 residual px) */
  blockShare: 0.04,
  /** structure tensor: smallest eigenvalue per pixel, so the displacement is defined in 2-D */
  minTexture: 1,
  /** mean squared misfit per pixel (grey levels²) for a block to count as misfitting */
  minMisfit: 9,
  /** a displacement explains the misfit when it removes at least this share of its energy */
  minExplained: 0.4,
  /** departure from the common (affine) motion field, residual px */
  minOwnShift: 0.75,
  /** displacements are clamped to this (the linearisation holds for about the blur's reach) */
  maxShift: 3,
  /** extra Gaussian blur (σ, residual px) before measuring displacement */
  blur: 2,
  /** Lucas–Kanade steps per block */
  iterations: 4,
  /** fewer textured blocks than this: too little structure to tell (share reported as 0) */
  minBlocks: 40,
  /** blocks within this share of the frame of a candidate edit are left out */
  editMargin: 0.02,
};

export interface IndependentMotion {
  /** textured object blocks examined */
  blocks: number;
  /** of those, blocks whose misfit is a displacement of their own */
  moved: number;
  /** moved / blocks */
  share: number;
}

interface Block {
  cx: number;
  cy: number;
  dx: number;
  dy: number;
  e0: number;
  e1: number;
  n: number;
}

export function independentMotion(r: Pick<ResidualResult, 'width' | 'height' | 'valid' | 'object' | 'claimRgb' | 'refRgb'>, changed?: Uint8Array): IndependentMotion {
  const W = r.width, H = r.height;
  if (!r.claimRgb || !r.refRgb) return { blocks: 0, moved: 0, share: 0 };
  const n = W * H;
  const c = new Float32Array(n);
  const g = new Float32Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    c[i] = (r.claimRgb[j]! + r.claimRgb[j + 1]! + r.claimRgb[j + 2]!) / 3;
    g[i] = (r.refRgb[j]! + r.refRgb[j + 1]! + r.refRgb[j + 2]!) / 3;
  }
  // smoothed a little more than the residual's own blur: displacement is measured on the
  // structure of the picture (outlines, shading, print), not on speckle at the detail limit,
  // where any slight misalignment can be "explained" by some shift
  gaussianBlur(c, W, H, MOTION.blur);
  gaussianBlur(g, W, H, MOTION.blur);
  // integral image of the candidate edits, to skip blocks near them
  const S = new Uint32Array((W + 1) * (H + 1));
  if (changed) {
    for (let y = 0; y < H; y++) {
      let row = 0;
      for (let x = 0; x < W; x++) {
        row += changed[y * W + x] ? 1 : 0;
        S[(y + 1) * (W + 1) + x + 1] = S[y * (W + 1) + x + 1]! + row;
      }
    }
  }
  const changedIn = (x0: number, y0: number, x1: number, y1: number) => {
    x0 = Math.max(0, x0); y0 = Math.max(0, y0); x1 = Math.min(W, x1); y1 = Math.min(H, y1);
    if (x1 <= x0 || y1 <= y0) return 0;
    return S[y1 * (W + 1) + x1]! - S[y0 * (W + 1) + x1]! - S[y1 * (W + 1) + x0]! + S[y0 * (W + 1) + x0]!;
  };
  // gradients of the reference
  const gxI = new Float32Array(n);
  const gyI = new Float32Array(n);
  for (let y = 1; y < H - 1; y++) {
    for (let x = 1; x < W - 1; x++) {
      const i = y * W + x;
      gxI[i] = (g[i + 1]! - g[i - 1]!) / 2;
      gyI[i] = (g[i + W]! - g[i - W]!) / 2;
    }
  }
  // bilinear sampling at x + d: within a block d is one vector, so the weights are too
  const shifted = (arr: Float32Array, i: number, ox: number, oy: number, fx: number, fy: number) => {
    let x = (i % W) + ox, y = ((i / W) | 0) + oy;
    let wx = fx, wy = fy;
    if (x < 0) { x = 0; wx = 0; } else if (x > W - 2) { x = W - 2; wx = 1; }
    if (y < 0) { y = 0; wy = 0; } else if (y > H - 2) { y = H - 2; wy = 1; }
    const j = y * W + x;
    return (arr[j]! * (1 - wx) + arr[j + 1]! * wx) * (1 - wy) + (arr[j + W]! * (1 - wx) + arr[j + W + 1]! * wx) * wy;
  };
  const b = Math.max(8, Math.round(MOTION.blockShare * Math.max(W, H)));
  const margin = Math.round(MOTION.editMargin * Math.max(W, H));
  const blocks: Block[] = [];
  const px: number[] = [];
  for (let by = 1; by + b < H - 1; by += b) {
    for (let bx = 1; bx + b < W - 1; bx += b) {
      if (changed && changedIn(bx - margin, by - margin, bx + b + margin, by + b + margin) > 0) continue;
      px.length = 0;
      let a11 = 0, a12 = 0, a22 = 0, e0 = 0;
      for (let y = by; y < by + b; y++) {
        for (let x = bx; x < bx + b; x++) {
          const i = y * W + x;
          if (!r.valid[i] || !r.object[i]) continue;
          px.push(i);
          const gx = gxI[i]!, gy = gyI[i]!;
          a11 += gx * gx; a12 += gx * gy; a22 += gy * gy;
          const d = c[i]! - g[i]!;
          e0 += d * d;
        }
      }
      const m = px.length;
      if (m < 0.5 * b * b) continue;
      const tr = a11 + a22, det0 = a11 * a22 - a12 * a12;
      const lmin = (tr / 2 - Math.sqrt(Math.max(0, (tr * tr) / 4 - det0))) / m;
      if (lmin < MOTION.minTexture) continue;
      // Lucas–Kanade, iterated: the claim here is the reference sampled at x + d
      let dx = 0, dy = 0;
      // a block that hardly misfits moves by a fraction of a pixel, for which one step is exact
      // enough; the others are iterated (larger shifts, outside the linear range of one step)
      const steps = e0 >= MOTION.minMisfit * m ? MOTION.iterations : 1;
      for (let it = 0; it < steps; it++) {
        const ox = Math.floor(dx), oy = Math.floor(dy), fx = dx - ox, fy = dy - oy;
        let s11 = 0, s12 = 0, s22 = 0, b1 = 0, b2 = 0;
        for (const i of px) {
          const gx = it ? shifted(gxI, i, ox, oy, fx, fy) : gxI[i]!;
          const gy = it ? shifted(gyI, i, ox, oy, fx, fy) : gyI[i]!;
          const d = c[i]! - (it ? shifted(g, i, ox, oy, fx, fy) : g[i]!);
          s11 += gx * gx; s12 += gx * gy; s22 += gy * gy;
          b1 += gx * d; b2 += gy * d;
        }
        const lam = 1e-3 * (s11 + s22) + 1;
        const det = (s11 + lam) * (s22 + lam) - s12 * s12;
        dx += ((s22 + lam) * b1 - s12 * b2) / det;
        dy += ((s11 + lam) * b2 - s12 * b1) / det;
        const len = Math.hypot(dx, dy);
        if (len > MOTION.maxShift) { dx *= MOTION.maxShift / len; dy *= MOTION.maxShift / len; }
      }
      // the misfit left once the block is moved by d
      let e1 = 0;
      {
        const ox = Math.floor(dx), oy = Math.floor(dy), fx = dx - ox, fy = dy - oy;
        for (const i of px) {
          const d = c[i]! - shifted(g, i, ox, oy, fx, fy);
          e1 += d * d;
        }
      }
      blocks.push({ cx: (bx + b / 2) / W, cy: (by + b / 2) / H, dx, dy, e0, e1, n: m });
    }
  }
  if (blocks.length < MOTION.minBlocks) return { blocks: blocks.length, moved: 0, share: 0 };
  // the common motion field: quadratic in the block position (an affine field is a slightly
  // wrong affine map; the quadratic terms take up most of a slightly wrong perspective),
  // least squares, refitted without the quarter of blocks that depart most from it
  let field = quadraticField(blocks);
  const departure = (k: Block) => {
    const t = terms(k);
    let ex = k.dx, ey = k.dy;
    for (let a = 0; a < 6; a++) {
      ex -= field.x[a]! * t[a]!;
      ey -= field.y[a]! * t[a]!;
    }
    return Math.hypot(ex, ey);
  };
  const sorted = [...blocks].sort((p, q) => departure(p) - departure(q));
  field = quadraticField(sorted.slice(0, Math.ceil(0.75 * sorted.length)));
  let moved = 0;
  for (const k of blocks) {
    if (k.e0 < MOTION.minMisfit * k.n) continue;
    if (k.e1 > (1 - MOTION.minExplained) * k.e0) continue;
    if (departure(k) < MOTION.minOwnShift) continue;
    moved++;
  }
  return { blocks: blocks.length, moved, share: moved / blocks.length };
}

const terms = (k: Block) => [1, k.cx, k.cy, k.cx * k.cx, k.cx * k.cy, k.cy * k.cy];

function quadraticField(blocks: readonly Block[]): { x: number[]; y: number[] } {
  const A = new Float64Array(36);
  const vx = new Float64Array(6), vy = new Float64Array(6);
  for (const k of blocks) {
    const t = terms(k);
    for (let a = 0; a < 6; a++) {
      vx[a] += t[a]! * k.dx;
      vy[a] += t[a]! * k.dy;
      for (let q = 0; q < 6; q++) A[a * 6 + q] += t[a]! * t[q]!;
    }
  }
  // a touch of ridge so that few blocks (or blocks along a line) leave the field defined
  for (let a = 0; a < 6; a++) A[a * 7] += 1e-3 * blocks.length;
  return { x: solve(A, vx, 6), y: solve(A, vy, 6) };
}

/** Solves A·s = v (n×n, row-major) by Gaussian elimination with partial pivoting. */
function solve(A0: Float64Array, v0: Float64Array, n: number): number[] {
  const A = Float64Array.from(A0), v = Float64Array.from(v0);
  for (let i = 0; i < n; i++) {
    let p = i;
    for (let j = i + 1; j < n; j++) if (Math.abs(A[j * n + i]!) > Math.abs(A[p * n + i]!)) p = j;
    if (Math.abs(A[p * n + i]!) < 1e-12) return new Array(n).fill(0);
    if (p !== i) {
      for (let q = 0; q < n; q++) [A[i * n + q], A[p * n + q]] = [A[p * n + q]!, A[i * n + q]!];
      [v[i], v[p]] = [v[p]!, v[i]!];
    }
    for (let j = i + 1; j < n; j++) {
      const f = A[j * n + i]! / A[i * n + i]!;
      for (let q = i; q < n; q++) A[j * n + q] -= f * A[i * n + q]!;
      v[j] -= f * v[i]!;
    }
  }
  const s = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--) {
    let t = v[i]!;
    for (let q = i + 1; q < n; q++) t -= A[i * n + q]! * s[q]!;
    s[i] = t / A[i * n + i]!;
  }
  return s;
}

/** In-place separable Gaussian blur (edges replicated). */
function gaussianBlur(a: Float32Array, W: number, H: number, sigma: number): void {
  const rad = Math.ceil(2.5 * sigma);
  const k = new Float32Array(2 * rad + 1);
  let sum = 0;
  for (let i = -rad; i <= rad; i++) sum += k[i + rad] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] = k[i]! / sum;
  const line = new Float32Array(Math.max(W, H) + 2 * rad);
  const pass = (len: number, count: number, at: (j: number, t: number) => number) => {
    for (let j = 0; j < count; j++) {
      // the line with its ends replicated, then the kernel over it
      for (let t = 0; t < len; t++) line[t + rad] = a[at(j, t)]!;
      for (let t = 0; t < rad; t++) {
        line[t] = line[rad]!;
        line[len + rad + t] = line[len + rad - 1]!;
      }
      for (let t = 0; t < len; t++) {
        let s = 0;
        for (let q = 0; q < k.length; q++) s += k[q]! * line[t + q]!;
        a[at(j, t)] = s;
      }
    }
  };
  pass(W, H, (y, x) => y * W + x);
  pass(H, W, (x, y) => y * W + x);
}
