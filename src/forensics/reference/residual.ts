// After alignment: warp the reference into the claim's working frame, match its colours to
// the claim (per-channel monotone tone curves fitted robustly inside the overlap, which
// absorbs brightness/contrast/gamma/colour changes), and compute a structure-aware residual:
// each claim pixel is compared with the *range* of the aligned reference over a small
// neighbourhood, after blurring both, so that sub-pixel misalignment at edges and JPEG
// noise do not count as change. Large connected residual regions are candidate edits.

import { greyHeatmap } from '../heatmap.ts';
import type { Heatmap } from '../types.ts';
import type { Homography } from './align.ts';
import { loadOpenCv, type CV } from './opencv.ts';
import type { WorkingImage } from './working.ts';

export interface ResidualResult {
  width: number;
  height: number;
  /** Claim working pixels per residual pixel (the residual runs at the images' real detail). */
  scale: number;
  /** Per-pixel residual 0–255 (0 outside the overlap). */
  residual: Uint8Array;
  /** 1 where the warped reference covers the claim (eroded). */
  valid: Uint8Array;
  /** 1 where the reference's object (not its plain backdrop) lands. */
  object: Uint8Array;
  validArea: number;
  objectArea: number;
  /** Share of the claim frame covered by the reference. */
  overlapShareOfClaim: number;
  /** Median and 75th percentile of the residual over the overlap (the noise level; edits
   * can cover a tenth or more of the overlap, so higher percentiles would measure them). */
  median: number;
  p75: number;
  /**
   * 99.5th percentile of the residual over the overlap: how high copy noise (JPEG blocks,
   * resampling, ringing at edges) reaches in this claim, which the median and p75 (0 on most
   * claims) do not tell.
   */
  p995: number;
  /** The blurred claim and the blurred, aligned, colour-matched reference (RGB, W×H×3). */
  claimRgb?: Uint8Array;
  refRgb?: Uint8Array;
}

export interface ChangeRegion {
  x: number;
  y: number;
  width: number;
  height: number;
  area: number;
  /** Mean residual inside the component. */
  strength: number;
}

export interface ChangeAnalysis {
  regions: ChangeRegion[];
  changedMask: Uint8Array;
  changedArea: number;
  changedShareOfObject: number;
  /** Mean residual over the object outside the changed regions: how well the rest fits. */
  fitResidual: number;
  /** Share of object pixels outside the regions whose residual is above the low threshold. */
  diffuseShare: number;
  threshold: number;
  /**
   * Places of strong misfit (groups of components with a pixel above the high threshold,
   * of any size, boxes within 6 % of the frame joined) and the share of the misfit area that
   * the largest place holds. An edit is one or a few places; an independent exposure of the
   * same scene (a burst shot) misfits in many scattered places where things moved.
   */
  misfit: { places: number; largestShare: number };
  /** Candidate components that were not kept (for diagnostics), strongest first. */
  rejected?: { x: number; y: number; width: number; height: number; area: number; strength: number; peak: number; reason: string }[];
}

/**
 * `detailPx`: the size, in claim working pixels, of the coarsest pixel either image really
 * has (an upscaled 198 px listing photo or a claim shrunk to 25 % carry no finer detail);
 * blur and neighbourhood tolerance scale with it.
 */
export async function computeResidual(
  claim: WorkingImage,
  ref: WorkingImage,
  refObject: Uint8Array,
  H: Homography,
  detailPx = 1,
): Promise<ResidualResult> {
  const cv: CV = await loadOpenCv();
  // When the finer of the two images carries no detail below `detailPx` (an upscaled
  // listing photo, a shrunken claim), compare at a resolution where that detail is about
  // 1.5 px: nothing is lost and the work drops with the square of the factor.
  const k = Math.min(1, 1.5 / Math.max(1, detailPx));
  const W = Math.max(16, Math.round(claim.width * k));
  const Hh = Math.max(16, Math.round(claim.height * k));
  const kx = W / claim.width;
  const ky = Hh / claim.height;
  detailPx = Math.max(1, detailPx * k);
  const mats: CV[] = [];
  const track = <T>(m: T): T => {
    mats.push(m);
    return m;
  };
  try {
    // Downscaling through warpPerspective aliases; pre-shrink the reference to about the
    // scale it has in the claim.
    const s = Math.sqrt(Math.abs(H[0]! * H[4]! - H[1]! * H[3]!) * kx * ky);
    let refRgb = track(new cv.Mat(ref.height, ref.width, cv.CV_8UC3));
    refRgb.data.set(ref.rgb);
    let refObj = track(new cv.Mat(ref.height, ref.width, cv.CV_8UC1));
    refObj.data.set(refObject);
    // homography into the residual's frame
    let h = [H[0]! * kx, H[1]! * kx, H[2]! * kx, H[3]! * ky, H[4]! * ky, H[5]! * ky, H[6]!, H[7]!, H[8]!];
    if (s < 0.7) {
      const w2 = Math.max(2, Math.round(ref.width * s));
      const h2 = Math.max(2, Math.round(ref.height * s));
      const small = track(new cv.Mat());
      cv.resize(refRgb, small, new cv.Size(w2, h2), 0, 0, cv.INTER_AREA);
      const smallObj = track(new cv.Mat());
      cv.resize(refObj, smallObj, new cv.Size(w2, h2), 0, 0, cv.INTER_NEAREST);
      const kx = ref.width / w2;
      const ky = ref.height / h2;
      h = [h[0]! * kx, h[1]! * ky, h[2]!, h[3]! * kx, h[4]! * ky, h[5]!, h[6]! * kx, h[7]! * ky, h[8]!];
      refRgb = small;
      refObj = smallObj;
    }
    const M = track(cv.matFromArray(3, 3, cv.CV_64FC1, h));
    const size = new cv.Size(W, Hh);
    const warped = track(new cv.Mat());
    // replicate the reference's edge so that blurring near the overlap's border does not
    // mix in black
    cv.warpPerspective(refRgb, warped, M, size, cv.INTER_LINEAR, cv.BORDER_REPLICATE);
    const ones = track(new cv.Mat(refRgb.rows, refRgb.cols, cv.CV_8UC1, new cv.Scalar(255)));
    const validM = track(new cv.Mat());
    cv.warpPerspective(ones, validM, M, size, cv.INTER_NEAREST, cv.BORDER_CONSTANT, new cv.Scalar(0));
    const sigma = Math.min(4, 1.1 * Math.max(1, detailPx));
    // stay clear of the overlap's border by the blur's reach
    const margin = 2 * Math.ceil(2.5 * sigma) + 3;
    const kernel = track(cv.getStructuringElement(cv.MORPH_RECT, new cv.Size(margin, margin)));
    cv.erode(validM, validM, kernel);
    const objM = track(new cv.Mat());
    cv.warpPerspective(refObj, objM, M, size, cv.INTER_NEAREST, cv.BORDER_CONSTANT, new cv.Scalar(0));

    const claimFull = track(new cv.Mat(claim.height, claim.width, cv.CV_8UC3));
    claimFull.data.set(claim.rgb);
    let claimM = claimFull;
    if (W !== claim.width || Hh !== claim.height) {
      claimM = track(new cv.Mat());
      cv.resize(claimFull, claimM, new cv.Size(W, Hh), 0, 0, cv.INTER_AREA);
    }
    const blurC = track(new cv.Mat());
    const blurR = track(new cv.Mat());
    const ks = new cv.Size(0, 0);
    cv.GaussianBlur(claimM, blurC, ks, sigma, sigma, cv.BORDER_REPLICATE);
    cv.GaussianBlur(warped, blurR, ks, sigma, sigma, cv.BORDER_REPLICATE);

    const valid = new Uint8Array(validM.data);
    const n = W * Hh;
    for (let i = 0; i < n; i++) valid[i] = valid[i] ? 1 : 0;
    const object = new Uint8Array(objM.data);
    for (let i = 0; i < n; i++) object[i] = object[i] && valid[i] ? 1 : 0;

    const C = blurC.data as Uint8Array;
    // The colour model is fitted on the blurred pair (robust), then applied to the sharp
    // warped reference before blurring it: a forger's colour change (gamma, clipping) was
    // applied to sharp pixels, and a curve does not commute with a blur across a strong edge.
    const model = matchColours(blurR.data as Uint8Array, C, valid);
    const sharpRef = new Uint8Array(warped.data as Uint8Array);
    applyColourModel(sharpRef, model);
    (warped.data as Uint8Array).set(sharpRef);
    cv.GaussianBlur(warped, blurR, ks, sigma, sigma, cv.BORDER_REPLICATE);
    const R = new Uint8Array(blurR.data as Uint8Array);
    // Neighbourhood range of the tone-mapped reference (3×3 min/max).
    const Rm = track(new cv.Mat(Hh, W, cv.CV_8UC3));
    Rm.data.set(R);
    const lo = track(new cv.Mat());
    const hi = track(new cv.Mat());
    const reach = 2 * Math.max(1, Math.min(3, Math.round(0.6 * detailPx))) + 1;
    const k3 = track(cv.getStructuringElement(cv.MORPH_RECT, new cv.Size(reach, reach)));
    cv.erode(Rm, lo, k3);
    cv.dilate(Rm, hi, k3);
    const L = lo.data as Uint8Array;
    const U = hi.data as Uint8Array;
    const residual = new Uint8Array(n);
    const hist = new Uint32Array(256);
    let validArea = 0;
    let objectArea = 0;
    for (let i = 0, j = 0; i < n; i++, j += 3) {
      if (!valid[i]) continue;
      validArea++;
      if (object[i]) objectArea++;
      let m = 0;
      for (let c = 0; c < 3; c++) {
        const v = C[j + c]!;
        const d = v > U[j + c]! ? v - U[j + c]! : v < L[j + c]! ? L[j + c]! - v : 0;
        if (d > m) m = d;
      }
      residual[i] = m;
      hist[m]++;
    }
    return {
      width: W,
      height: Hh,
      scale: claim.width / W,
      residual,
      valid,
      object,
      validArea,
      objectArea,
      overlapShareOfClaim: validArea / n,
      median: histPercentile(hist, validArea, 0.5),
      p75: histPercentile(hist, validArea, 0.75),
      p995: histPercentile(hist, validArea, 0.995),
      claimRgb: new Uint8Array(C),
      refRgb: R,
    };
  } finally {
    for (const m of mats) m.delete();
  }
}

/**
 * Colour matching of the aligned reference `R0` to the claim `C` inside the overlap: an
 * affine colour transform (white balance, saturation, gain/offset), clamped to 0–255, then a
 * monotone tone curve per channel (gamma, contrast curves). A forger's colour change is that
 * shape (a channel mix, clipped, then curves), but fitting the affine part straight against
 * the claim's values fits it through the curves' bend; so it is refitted against the claim
 * taken back through the inverse curves, and the curves refitted after it (the fit with the
 * smaller mean error of the two is kept).
 */
export interface ColourModel {
  matrix: number[][];
  curves: Uint8Array[];
}

export function applyColourModel(R: Uint8Array, m: ColourModel): void {
  applyColourMatrix(R, m.matrix, new Uint8Array(R.length / 3));
  for (let j = 0; j < R.length; j += 3) for (let c = 0; c < 3; c++) R[j + c] = m.curves[c]![R[j + c]!]!;
}

export function matchColours(R0: Uint8Array, C: Uint8Array, valid: Uint8Array): ColourModel {
  const n = valid.length;
  const once = (M: number[][]): { M: number[][]; luts: Uint8Array[]; err: number } => {
    const R = new Uint8Array(R0);
    applyColourMatrix(R, M, valid);
    const luts: Uint8Array[] = [];
    for (let c = 0; c < 3; c++) {
      const lut = fitToneCurve(R, C, valid, c);
      luts.push(lut);
      for (let i = 0, j = c; i < n; i++, j += 3) R[j] = lut[R[j]!]!;
    }
    let err = 0;
    let cnt = 0;
    const step = Math.max(1, Math.floor(n / 40000));
    for (let i = 0; i < n; i += step) {
      if (!valid[i]) continue;
      const j = 3 * i;
      err += Math.abs(R[j]! - C[j]!) + Math.abs(R[j + 1]! - C[j + 1]!) + Math.abs(R[j + 2]! - C[j + 2]!);
      cnt++;
    }
    return { M, luts, err: cnt ? err / cnt : 0 };
  };
  let best = once(fitColourMatrix(R0, C, valid));
  // the claim through the inverse tone curves, then the affine part again
  const Ci = new Uint8Array(C.length);
  const inv = best.luts.map(invertCurve);
  for (let i = 0; i < C.length; i += 3) for (let c = 0; c < 3; c++) Ci[i + c] = inv[c]![C[i + c]!]!;
  const second = once(fitColourMatrix(R0, Ci, valid));
  if (second.err < best.err) best = second;
  return { matrix: best.M, curves: best.luts };
}

/** Inverse of a monotone 0–255 curve: for each output value, the mean input mapping to it (interpolated between). */
function invertCurve(lut: Uint8Array): Uint8Array {
  const sum = new Float64Array(256);
  const cnt = new Uint32Array(256);
  for (let r = 0; r < 256; r++) {
    sum[lut[r]!] += r;
    cnt[lut[r]!]++;
  }
  const out = new Uint8Array(256);
  let prevV = -1;
  let prevR = 0;
  for (let v = 0; v < 256; v++) {
    if (!cnt[v]) continue;
    const r = sum[v]! / cnt[v]!;
    // values below the first reached one map to 0…r, between two reached ones linearly
    for (let u = prevV + 1; u < v; u++) out[u] = Math.round(prevV < 0 ? r : prevR + ((r - prevR) * (u - prevV)) / (v - prevV));
    out[v] = Math.round(r);
    prevV = v;
    prevR = r;
  }
  for (let u = prevV + 1; u < 256; u++) out[u] = prevV < 0 ? u : Math.round(prevR);
  return out;
}

/**
 * Least-squares affine colour map claim ≈ M·[r g b 1] over the overlap, refitted once
 * without the worst-fitting tenth of the pixels so that edits do not pull it.
 */
export function fitColourMatrix(R: Uint8Array, C: Uint8Array, valid: Uint8Array): number[][] {
  const n = valid.length;
  const step = Math.max(1, Math.floor(n / 20000));
  let rows: number[] = [];
  for (let i = 0; i < n; i += step) if (valid[i]) rows.push(i);
  // Colours weighted by the inverse square root of how common they are in the reference:
  // otherwise a small green logo on a red-and-white carton barely constrains the fit, and a
  // forger's saturation change on it is left as residual.
  const bins = new Float64Array(512);
  const bin = (i: number) => ((R[3 * i]! >> 5) << 6) | ((R[3 * i + 1]! >> 5) << 3) | (R[3 * i + 2]! >> 5);
  for (const i of rows) bins[bin(i)]++;
  const weight = new Float64Array(512);
  for (let b = 0; b < 512; b++) weight[b] = bins[b]! ? 1 / Math.sqrt(bins[b]!) : 0;
  const w = (i: number) => weight[bin(i)]!;
  let M = solveAffine(R, C, rows, w);
  for (let pass = 0; pass < 2 && M; pass++) {
    // error quantiles from a histogram (errors are integers-ish in 0…765)
    const errs = new Float32Array(rows.length);
    const hist = new Uint32Array(800);
    for (let k = 0; k < rows.length; k++) {
      const e = colourError(R, C, rows[k]!, M);
      errs[k] = e;
      hist[Math.min(799, Math.round(e))]++;
    }
    const q = (p: number) => {
      let acc = 0;
      for (let v = 0; v < 800; v++) if ((acc += hist[v]!) >= p * rows.length) return v;
      return 799;
    };
    // drop only clear outliers (edits): a plain quantile cut would, on a photo that is mostly
    // white backdrop, discard the object itself and fit the backdrop alone
    const cut = Math.max(q(0.9), 4 * q(0.5) + 15);
    rows = rows.filter((_, k) => errs[k]! <= cut);
    M = solveAffine(R, C, rows, w) ?? M;
  }
  return M ?? [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]];
}

function colourError(R: Uint8Array, C: Uint8Array, i: number, M: number[][]): number {
  const r = R[3 * i]!, g = R[3 * i + 1]!, b = R[3 * i + 2]!;
  const m0 = M[0]!, m1 = M[1]!, m2 = M[2]!;
  return (
    Math.abs(m0[0]! * r + m0[1]! * g + m0[2]! * b + m0[3]! - C[3 * i]!) +
    Math.abs(m1[0]! * r + m1[1]! * g + m1[2]! * b + m1[3]! - C[3 * i + 1]!) +
    Math.abs(m2[0]! * r + m2[1]! * g + m2[2]! * b + m2[3]! - C[3 * i + 2]!)
  );
}

function solveAffine(R: Uint8Array, C: Uint8Array, rows: number[], weight: (i: number) => number = () => 1): number[][] | undefined {
  if (rows.length < 50) return undefined;
  const A = Array.from({ length: 4 }, () => new Float64Array(4));
  const B = Array.from({ length: 3 }, () => new Float64Array(4));
  let total = 0;
  for (const i of rows) {
    const wt = weight(i);
    total += wt;
    const x = [R[3 * i]!, R[3 * i + 1]!, R[3 * i + 2]!, 1];
    for (let a = 0; a < 4; a++) {
      for (let b = 0; b < 4; b++) A[a]![b]! += wt * x[a]! * x[b]!;
      for (let c = 0; c < 3; c++) B[c]![a]! += wt * x[a]! * C[3 * i + c]!;
    }
  }
  // tiny ridge towards identity keeps flat (e.g. all-white) overlaps well posed
  const lambda = total * 4;
  const out: number[][] = [];
  for (let c = 0; c < 3; c++) {
    const m = A.map((row) => Array.from(row));
    const rhs = Array.from(B[c]!);
    for (let a = 0; a < 3; a++) {
      m[a]![a]! += lambda;
      rhs[a]! += lambda * (a === c ? 1 : 0);
    }
    const sol = solve4(m, rhs);
    if (!sol) return undefined;
    out.push(sol);
  }
  return out;
}

function solve4(m: number[][], rhs: number[]): number[] | undefined {
  const n = 4;
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r]![col]!) > Math.abs(m[piv]![col]!)) piv = r;
    if (Math.abs(m[piv]![col]!) < 1e-9) return undefined;
    [m[col], m[piv]] = [m[piv]!, m[col]!];
    [rhs[col], rhs[piv]] = [rhs[piv]!, rhs[col]!];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = m[r]![col]! / m[col]![col]!;
      for (let k = col; k < n; k++) m[r]![k]! -= f * m[col]![k]!;
      rhs[r]! -= f * rhs[col]!;
    }
  }
  return rhs.map((v, i) => v / m[i]![i]!);
}

function applyColourMatrix(R: Uint8Array, M: number[][], valid: Uint8Array): void {
  const n = valid.length;
  const [a0, a1, a2, a3] = M[0]! as [number, number, number, number];
  const [b0, b1, b2, b3] = M[1]! as [number, number, number, number];
  const [c0, c1, c2, c3] = M[2]! as [number, number, number, number];
  // a Uint8ClampedArray view rounds and clamps on store
  const out = new Uint8ClampedArray(R.buffer, R.byteOffset, R.length);
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    const r = R[j]!, g = R[j + 1]!, b = R[j + 2]!;
    out[j] = a0 * r + a1 * g + a2 * b + a3;
    out[j + 1] = b0 * r + b1 * g + b2 * b + b3;
    out[j + 2] = c0 * r + c1 * g + c2 * b + c3;
  }
}

function histPercentile(hist: Uint32Array, total: number, p: number): number {
  if (!total) return 0;
  const target = p * total;
  let acc = 0;
  for (let v = 0; v < 256; v++) {
    acc += hist[v]!;
    if (acc >= target) return v;
  }
  return 255;
}

/**
 * Monotone tone curve mapping reference values to claim values for channel `c`: the median
 * claim value for each reference value (robust to the minority of edited pixels),
 * interpolated where a value is rare, then made non-decreasing.
 */
export function fitToneCurve(R: Uint8Array, C: Uint8Array, valid: Uint8Array, c: number): Uint8Array {
  const joint = new Uint32Array(256 * 256);
  const count = new Uint32Array(256);
  const n = valid.length;
  for (let i = 0, j = c; i < n; i++, j += 3) {
    if (!valid[i]) continue;
    joint[R[j]! * 256 + C[j]!]++;
    count[R[j]!]++;
  }
  const med = new Float64Array(256).fill(NaN);
  for (let r = 0; r < 256; r++) {
    if (count[r]! < 4) continue;
    const half = count[r]! / 2;
    let acc = 0;
    for (let v = 0; v < 256; v++) {
      acc += joint[r * 256 + v]!;
      if (acc >= half) {
        med[r] = v;
        break;
      }
    }
  }
  // fill gaps by linear interpolation; extrapolate with identity offset
  const known: number[] = [];
  for (let r = 0; r < 256; r++) if (!Number.isNaN(med[r]!)) known.push(r);
  const lut = new Uint8Array(256);
  if (known.length === 0) {
    for (let r = 0; r < 256; r++) lut[r] = r;
    return lut;
  }
  const out = new Float64Array(256);
  for (let r = 0; r < 256; r++) {
    if (!Number.isNaN(med[r]!)) {
      out[r] = med[r]!;
      continue;
    }
    let a = -1;
    let b = -1;
    for (const k of known) {
      if (k < r) a = k;
      else {
        b = k;
        break;
      }
    }
    if (a < 0) out[r] = med[b]! - (b - r);
    else if (b < 0) out[r] = med[a]! + (r - a);
    else out[r] = med[a]! + ((med[b]! - med[a]!) * (r - a)) / (b - a);
  }
  // light smoothing, then monotone
  const sm = new Float64Array(256);
  for (let r = 0; r < 256; r++) {
    let s = 0;
    let w = 0;
    for (let d = -3; d <= 3; d++) {
      const k = r + d;
      if (k < 0 || k > 255) continue;
      const wt = count[k]! + 1;
      s += out[k]! * wt;
      w += wt;
    }
    sm[r] = s / w;
  }
  // Weighted isotonic regression (pool adjacent violators): a running maximum would let one
  // sparse, edit-dominated value lift the whole rest of the curve.
  const vals: number[] = [];
  const wts: number[] = [];
  const lens: number[] = [];
  for (let r = 0; r < 256; r++) {
    vals.push(sm[r]!);
    wts.push(count[r]! + 0.5);
    lens.push(1);
    while (vals.length > 1 && vals[vals.length - 2]! > vals[vals.length - 1]!) {
      const v2 = vals.pop()!, w2 = wts.pop()!, l2 = lens.pop()!;
      const v1 = vals.pop()!, w1 = wts.pop()!, l1 = lens.pop()!;
      vals.push((v1 * w1 + v2 * w2) / (w1 + w2));
      wts.push(w1 + w2);
      lens.push(l1 + l2);
    }
  }
  let r = 0;
  for (let k = 0; k < vals.length; k++) {
    for (let t = 0; t < lens[k]!; t++, r++) lut[r] = Math.max(0, Math.min(255, Math.round(vals[k]!)));
  }
  return lut;
}

/**
 * Connected regions of large residual. The threshold adapts to the overlap's own residual
 * level (re-encoding at low quality raises it everywhere) but never drops below an absolute
 * floor, so faint global noise is not an edit.
 */
export async function findChanges(r: ResidualResult, opts: { floor?: number; minAreaShare?: number; minArea?: number } = {}): Promise<ChangeAnalysis> {
  const cv: CV = await loadOpenCv();
  const floor = opts.floor ?? CHANGE_FLOOR;
  const threshold = Math.max(floor, 5 * r.p75);
  const low = Math.max(floor * 0.6, 3 * r.p75);
  const n = r.width * r.height;
  const strong = new Uint8Array(n);
  const weak = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = r.residual[i]!;
    if (v >= low) weak[i] = 255;
    if (v >= threshold) strong[i] = 255;
  }
  const mats: CV[] = [];
  const track = <T>(m: T): T => {
    mats.push(m);
    return m;
  };
  try {
    // hysteresis: weak pixels connected to strong ones
    const weakM = track(new cv.Mat(r.height, r.width, cv.CV_8UC1));
    weakM.data.set(weak);
    const k3 = track(cv.getStructuringElement(cv.MORPH_ELLIPSE, new cv.Size(3, 3)));
    const k5 = track(cv.getStructuringElement(cv.MORPH_ELLIPSE, new cv.Size(5, 5)));
    cv.morphologyEx(weakM, weakM, cv.MORPH_OPEN, k3);
    // join the pieces of one edit (a crack's segments, a stain's blotches)
    cv.morphologyEx(weakM, weakM, cv.MORPH_CLOSE, k5);
    const labels = track(new cv.Mat());
    const stats = track(new cv.Mat());
    const cents = track(new cv.Mat());
    const count = cv.connectedComponentsWithStats(weakM, labels, stats, cents, 8, cv.CV_32S);
    const lab = labels.data32S as Int32Array;
    const st = stats.data32S as Int32Array;
    const hasStrong = new Uint8Array(count);
    const sum = new Float64Array(count);
    const peak = new Uint8Array(count);
    for (let i = 0; i < n; i++) {
      const l = lab[i]!;
      if (l > 0) {
        if (strong[i]) hasStrong[l] = 1;
        sum[l] += r.residual[i]!;
        if (r.residual[i]! > peak[l]!) peak[l] = r.residual[i]!;
      }
    }
    const base = Math.max(r.objectArea, 0.05 * r.validArea, 1);
    const minArea = Math.max(opts.minArea ?? 24, (opts.minAreaShare ?? 0.0008) * base);
    // The minimum area applies to an edit, not to each of its pieces: dirt specks or the
    // segments of a thin crack can each be smaller than the minimum while the edit is not.
    // Components with a strong pixel closer than the region-merging gap form one edit.
    const { groupArea } = editGroups(st, count, hasStrong, groupGap(r));
    // Places of misfit are counted with a wider gap (6 % of the frame): drawn dirt is a
    // cloud of specks whose spacing exceeds the 2 % box gap but that is one place.
    const { groups } = editGroups(st, count, hasStrong, 3 * groupGap(r));
    const misfitArea = groups.reduce((a, b) => a + b, 0);
    const keep = new Uint8Array(count);
    const regions: ChangeRegion[] = [];
    const rejected: NonNullable<ChangeAnalysis['rejected']> = [];
    for (let l = 1; l < count; l++) {
      const area = st[l * 5 + 4]!;
      if (!hasStrong[l] || groupArea[l]! < minArea) {
        if (area >= 4) rejected.push({ x: st[l * 5]!, y: st[l * 5 + 1]!, width: st[l * 5 + 2]!, height: st[l * 5 + 3]!, area, strength: Math.round((10 * sum[l]!) / area) / 10, peak: peak[l]!, reason: hasStrong[l] ? `area<${Math.round(minArea)}` : 'no strong pixel' });
        continue;
      }
      keep[l] = 1;
      regions.push({ x: st[l * 5]!, y: st[l * 5 + 1]!, width: st[l * 5 + 2]!, height: st[l * 5 + 3]!, area, strength: sum[l]! / area });
    }
    const changedMask = new Uint8Array(n);
    let changedArea = 0;
    let changedInObject = 0;
    for (let i = 0; i < n; i++) {
      if (keep[lab[i]!]) {
        changedMask[i] = 1;
        changedArea++;
        if (r.object[i]) changedInObject++;
      }
    }
    // fit of the rest: dilate the changes so their soft edges do not count
    const cm = track(new cv.Mat(r.height, r.width, cv.CV_8UC1));
    cm.data.set(changedMask);
    const k9 = track(cv.getStructuringElement(cv.MORPH_ELLIPSE, new cv.Size(9, 9)));
    cv.dilate(cm, cm, k9);
    const around = cm.data as Uint8Array;
    let fitSum = 0;
    let fitN = 0;
    let diffuse = 0;
    const useObject = usesObject(r);
    for (let i = 0; i < n; i++) {
      if (!r.valid[i] || around[i] || (useObject && !r.object[i])) continue;
      fitSum += r.residual[i]!;
      fitN++;
      if (r.residual[i]! >= floor * 0.6) diffuse++;
    }
    regions.sort((a, b) => b.area * b.strength - a.area * a.strength);
    return {
      regions,
      changedMask,
      changedArea,
      changedShareOfObject: changedShare(changedInObject, r),
      fitResidual: fitN ? fitSum / fitN : 255,
      diffuseShare: fitN ? diffuse / fitN : 1,
      threshold,
      misfit: { places: groups.length, largestShare: misfitArea ? groups[0]! / misfitArea : 0 },
      rejected: rejected.sort((a, b) => b.area * b.strength - a.area * a.strength),
    };
  } finally {
    for (const m of mats) m.delete();
  }
}

/** The usual floor of the strong threshold of `findChanges`. */
export const CHANGE_FLOOR = 22;

/**
 * The fine pass for quiet claims: when the residual's upper tail is low (p99.5 ≤ 4: a claim
 * that was not shrunk below the reference's detail nor crushed by JPEG), copy noise stays
 * well below the usual floor of 22, and a small chip or a thin crack whose residual peaks at
 * 12–21 can be told from it. The strong threshold then follows the noise (4 × p99.5, at
 * least 12, so 12–16) and an edit may be as small as 8 residual pixels. Measured on the
 * component dump of the 20 developer classes: pure copies reach 17–28 only where p99.5 is
 * 5–12 (JPEG q12, 25 % resize, a colour change with JPEG q60), where this pass does not run;
 * with p99.5 ≤ 4 no copy had a component of 8 px above 0.6 × the fine threshold. Regions of
 * this pass within `borderPx` of the frame or the overlap's edge are dropped (slivers where a
 * crop or the reference's border cuts through the picture: two pure copies of classes 21–41).
 */
export const QUIET = { minFloor: 12, noiseFactor: 4, maxNoise: 4, minArea: 8, borderPx: 2 };

/** The strong-threshold floor of the fine pass for this residual (CHANGE_FLOOR: no fine pass). */
/** Whether shares are of the item (its mask covers more than 2 % of the overlap) or of the whole overlap. */
export function usesObject(r: Pick<ResidualResult, 'objectArea' | 'validArea'>): boolean {
  return r.objectArea > 0.02 * r.validArea;
}

/** The changed share of the item (or of the overlap, see usesObject), from the changed pixels inside the item. */
export function changedShare(changedInObject: number, r: Pick<ResidualResult, 'objectArea' | 'validArea'>): number {
  return changedInObject / Math.max(1, usesObject(r) ? r.objectArea : r.validArea);
}

export function quietFloor(r: Pick<ResidualResult, 'p995'>): number {
  if (r.p995 > QUIET.maxNoise) return CHANGE_FLOOR;
  return Math.min(CHANGE_FLOOR, Math.max(QUIET.minFloor, QUIET.noiseFactor * r.p995));
}

/** Boxes closer than this (residual px) belong to one edit; the same gap merges the reported boxes. */
export function groupGap(r: { width: number; height: number }): number {
  return 0.02 * Math.max(r.width, r.height);
}

/**
 * For each component (OpenCV stats rows of 5: x, y, w, h, area), the total area of the
 * group of strong components it belongs to (boxes within `gap` of each other, transitively).
 */
export function editAreas(st: Int32Array, count: number, hasStrong: Uint8Array, gap: number): Float64Array {
  return editGroups(st, count, hasStrong, gap).groupArea;
}

/**
 * Groups of strong components (boxes within `gap` of each other, transitively): per
 * component the total area of its group, and the groups' areas (the places of misfit).
 */
export function editGroups(st: Int32Array, count: number, hasStrong: Uint8Array, gap: number): { groupArea: Float64Array; groups: number[] } {
  const parent = Int32Array.from({ length: count }, (_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!;
    return i;
  };
  const ids: number[] = [];
  for (let l = 1; l < count; l++) if (hasStrong[l]) ids.push(l);
  for (let a = 0; a < ids.length; a++) {
    const i = ids[a]!;
    const ax = st[i * 5]!, ay = st[i * 5 + 1]!, aw = st[i * 5 + 2]!, ah = st[i * 5 + 3]!;
    for (let b = a + 1; b < ids.length; b++) {
      const j = ids[b]!;
      const bx = st[j * 5]!, by = st[j * 5 + 1]!, bw = st[j * 5 + 2]!, bh = st[j * 5 + 3]!;
      if (ax - gap > bx + bw || bx - gap > ax + aw || ay - gap > by + bh || by - gap > ay + ah) continue;
      parent[find(i)] = find(j);
    }
  }
  const total = new Float64Array(count);
  for (const l of ids) total[find(l)] += st[l * 5 + 4]!;
  const groupArea = new Float64Array(count);
  const groups: number[] = [];
  for (const l of ids) {
    groupArea[l] = total[find(l)]!;
    if (find(l) === l) groups.push(total[l]!);
  }
  return { groupArea, groups: groups.sort((a, b) => b - a) };
}

/** Greyscale PNG of the residual at working resolution (brighter = larger change). */
export async function residualHeatmap(r: ResidualResult): Promise<Heatmap> {
  const n = r.width * r.height;
  const g = new Uint8Array(n);
  for (let i = 0; i < n; i++) g[i] = Math.min(255, r.residual[i]! * 4);
  return greyHeatmap(g, r.width, r.height);
}

/**
 * The reference's object: pixels that differ from a plain backdrop when the reference has
 * one (listing photos on white), else the whole frame.
 */
export function objectMask(ref: WorkingImage): Uint8Array {
  const { rgb, width: w, height: h } = ref;
  const n = w * h;
  const border: number[][] = [[], [], []];
  const push = (i: number) => {
    for (let c = 0; c < 3; c++) border[c]!.push(rgb[3 * i + c]!);
  };
  for (let x = 0; x < w; x++) {
    push(x);
    push((h - 1) * w + x);
  }
  for (let y = 0; y < h; y++) {
    push(y * w);
    push(y * w + w - 1);
  }
  const med = border.map((a) => a.sort((p, q) => p - q)[a.length >> 1]!);
  let near = 0;
  const total = border[0]!.length;
  for (let k = 0; k < total; k++) {
    if (Math.abs(border[0]![k]! - med[0]!) + Math.abs(border[1]![k]! - med[1]!) + Math.abs(border[2]![k]! - med[2]!) < 30) near++;
  }
  const mask = new Uint8Array(n);
  if (near / total < 0.8) {
    mask.fill(1);
    return mask;
  }
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    const d = Math.abs(rgb[j]! - med[0]!) + Math.abs(rgb[j + 1]! - med[1]!) + Math.abs(rgb[j + 2]! - med[2]!);
    mask[i] = d > 36 ? 1 : 0;
  }
  // fill: bounding rows — keep it simple with a row/column span fill so that white
  // highlights inside the object still count as object
  const filled = new Uint8Array(n);
  for (let y = 0; y < h; y++) {
    let a = -1;
    let b = -1;
    for (let x = 0; x < w; x++) if (mask[y * w + x]) {
      if (a < 0) a = x;
      b = x;
    }
    if (a >= 0) for (let x = a; x <= b; x++) filled[y * w + x] = 1;
  }
  for (let x = 0; x < w; x++) {
    let a = -1;
    let b = -1;
    for (let y = 0; y < h; y++) if (mask[y * w + x]) {
      if (a < 0) a = y;
      b = y;
    }
    for (let y = 0; y < h; y++) if (filled[y * w + x] && (y < a || y > b || a < 0)) filled[y * w + x] = 0;
  }
  let area = 0;
  for (let i = 0; i < n; i++) area += filled[i]!;
  if (area < 0.01 * n) mask.fill(1);
  else mask.set(filled);
  return mask;
}
