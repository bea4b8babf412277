// Geometric alignment of a reference onto a claim photo: ORB features (rotation- and
// scale-invariant) matched with a ratio test, and a RANSAC homography. ORB descriptors are
// not mirror-invariant, so the claim is described twice (as is and mirrored left–right);
// with rotation invariance that covers all 8 rotations/flips a forger can apply.

import { loadOpenCv, type CV } from './opencv.ts';
import { knn2Hamming } from './hamming.ts';
import { mirrorGray } from './working.ts';

export interface Features {
  /** x,y pairs of keypoints in working pixels. */
  points: Float32Array;
  /** 32 bytes per keypoint. */
  descriptors: Uint8Array;
  count: number;
  width: number;
  height: number;
}

/** Row-major 3×3 homography. */
export type Homography = number[];

export interface Alignment {
  /** Maps reference working pixels to claim working pixels. */
  homography: Homography;
  mirrored: boolean;
  inliers: number;
  matches: number;
  /** Inlier points in the claim (working px), for spread checks. */
  inlierSpread: number;
}

const MAX_FEATURES = 800;

export async function detectFeatures(gray: Uint8Array, width: number, height: number, mirrored = false, maxFeatures = MAX_FEATURES, fastThreshold = 12): Promise<Features> {
  const cv: CV = await loadOpenCv();
  const src = mirrored ? mirrorGray(gray, width, height) : gray;
  const mat = new cv.Mat(height, width, cv.CV_8UC1);
  mat.data.set(src);
  const orb = new cv.ORB(maxFeatures, 1.2, 8, 19, 0, 2, cv.ORB_HARRIS_SCORE, 19, fastThreshold);
  const kps = new cv.KeyPointVector();
  const desc = new cv.Mat();
  const none = new cv.Mat();
  try {
    orb.detectAndCompute(mat, none, kps, desc);
    const n = kps.size();
    const points = new Float32Array(n * 2);
    for (let i = 0; i < n; i++) {
      const kp = kps.get(i);
      points[2 * i] = mirrored ? width - 1 - kp.pt.x : kp.pt.x;
      points[2 * i + 1] = kp.pt.y;
    }
    const descriptors = n > 0 ? new Uint8Array(desc.data.slice(0, n * 32)) : new Uint8Array(0);
    return { points, descriptors, count: n, width, height };
  } finally {
    mat.delete();
    orb.delete();
    kps.delete();
    desc.delete();
    none.delete();
  }
}

/**
 * The claim's descriptors (as is, then mirrored) stacked in one array, built once per claim
 * and shared by every reference it is matched against.
 */
export interface ClaimIndex {
  claim: Features;
  mirrored: Features;
  /** 32 bytes per descriptor: the claim's, then the mirrored claim's. */
  descriptors: Uint8Array;
  count: number;
  delete(): void;
}

export async function claimIndex(claim: Features, claimMirrored: Features): Promise<ClaimIndex> {
  const n0 = claim.count;
  const descriptors = new Uint8Array((n0 + claimMirrored.count) * 32);
  descriptors.set(claim.descriptors.subarray(0, n0 * 32));
  descriptors.set(claimMirrored.descriptors.subarray(0, claimMirrored.count * 32), n0 * 32);
  return { claim, mirrored: claimMirrored, descriptors, count: n0 + claimMirrored.count, delete: () => {} };
}

/**
 * Early rejection of unrelated references. k-NN matching is per reference descriptor (each
 * finds its two nearest claim descriptors), so matching a sample of the reference's
 * descriptors first gives exactly the matches the full pass would give for those
 * descriptors. When the sample has fewer than `minMatches` ratio-test matches in both
 * variants, the reference is dropped without matching the rest; otherwise the rest is
 * matched and the result is identical to one full pass. 1 in `step` descriptors are sampled
 * (the keypoints are spread over the image, so a stride sample is a spatial sample too).
 * See docs/reference.md for how the threshold was set on the labelled set.
 */
export const MATCH_GATE = { enabled: true, step: 4, minMatches: 3, minDescriptors: 160 };

/** Best reference point for one claim point; `first` = the lowest reference index that matched it. */
interface Match {
  q: number;
  d: number;
  first: number;
}

export interface MatchStats {
  /** The sample's ratio-test matches (best variant), or undefined when no gate ran. */
  sampleMatches?: number;
  rejectedEarly: boolean;
  /** True when this was the second pass with dense claim features. */
  dense?: boolean;
}

/**
 * Matches reference features to claim features (as is, and mirrored) against the stacked
 * claim descriptors, and fits a homography per variant. Returns the better one, or
 * undefined when neither has a geometric consensus.
 */
export async function alignReference(
  ref: Features,
  claim: Features,
  claimMirrored: Features,
  minInliers = 12,
  opts: { index?: ClaimIndex; gate?: boolean; stats?: MatchStats } = {},
): Promise<Alignment | undefined> {
  if (ref.count < 8 || claim.count + claimMirrored.count < 8) return undefined;
  const own = opts.index ? undefined : await claimIndex(claim, claimMirrored);
  const index = opts.index ?? own!;
  const n0 = claim.count;
  // best match per claim point, per variant
  const best: Map<number, Match>[] = [new Map(), new Map()];
  const useGate = (opts.gate ?? MATCH_GATE.enabled) && ref.count >= MATCH_GATE.minDescriptors;
  try {
    if (useGate) {
      const sample: number[] = [];
      const rest: number[] = [];
      for (let i = 0; i < ref.count; i++) (i % MATCH_GATE.step === 0 ? sample : rest).push(i);
      const counts = knnInto(ref, sample, index, n0, best);
      const sampleMatches = Math.max(counts[0]!, counts[1]!);
      if (opts.stats) opts.stats.sampleMatches = sampleMatches;
      if (sampleMatches < MATCH_GATE.minMatches) {
        if (opts.stats) opts.stats.rejectedEarly = true;
        return undefined;
      }
      knnInto(ref, rest, index, n0, best);
    } else {
      knnInto(ref, undefined, index, n0, best);
    }
  } finally {
    own?.delete();
  }
  const a = best[0]!.size >= minInliers ? await fit(ref, claim, best[0]!, false) : undefined;
  // a clear direct fit makes the mirrored one moot
  const clear = a && a.inliers >= 40 && a.inliers >= 0.5 * a.matches;
  const b = !clear && best[1]!.size >= minInliers ? await fit(ref, claimMirrored, best[1]!, true) : undefined;
  const winner = !a ? b : !b ? a : b.inliers > a.inliers ? b : a;
  if (!winner || winner.inliers < minInliers) return undefined;
  return winner;
}

/**
 * k-NN (k = 2) of the given reference descriptors (all when `rows` is undefined) against
 * the stacked claim descriptors; ratio-test matches go into `best` (per variant, per claim
 * point the closest reference point; ties go to the lower reference index, so the result
 * does not depend on the order in which descriptors are matched). Returns the number of
 * ratio-test matches per variant found in this call.
 */
function knnInto(ref: Features, rows: number[] | undefined, index: ClaimIndex, n0: number, best: Map<number, Match>[]): [number, number] {
  const counts: [number, number] = [0, 0];
  const n = rows ? rows.length : ref.count;
  if (n === 0) return counts;
  let query = ref.descriptors;
  if (rows) {
    query = new Uint8Array(n * 32);
    for (let k = 0; k < n; k++) query.set(ref.descriptors.subarray(rows[k]! * 32, rows[k]! * 32 + 32), k * 32);
  }
  const knn = knn2Hamming(query, n, index.descriptors, index.count);
  for (let i = 0; i < n; i++) {
    const t0 = knn.best[i]!;
    const d0 = knn.bestDistance[i]!;
    if (t0 < 0 || d0 > 64 || d0 > 0.8 * knn.secondDistance[i]!) continue;
    const variant = t0 < n0 ? 0 : 1;
    counts[variant]++;
    const t = variant === 0 ? t0 : t0 - n0;
    const q = rows ? rows[i]! : i;
    const prev = best[variant]!.get(t);
    if (!prev) best[variant]!.set(t, { q, d: d0, first: q });
    else {
      if (prev.d > d0 || (prev.d === d0 && prev.q > q)) {
        prev.q = q;
        prev.d = d0;
      }
      if (q < prev.first) prev.first = q;
    }
  }
  return counts;
}

async function fit(ref: Features, claim: Features, used: Map<number, Match>, mirrored: boolean): Promise<Alignment | undefined> {
  const cv: CV = await loadOpenCv();
  const pairs: [number, number][] = [];
  // RANSAC's sampling depends on the order of the pairs: order them by the first reference
  // point that matched each claim point — the order one pass over all reference descriptors
  // produces — so the result does not depend on whether the early-rejection gate split the pass
  const order = [...used].sort((x, y) => x[1].first - y[1].first || x[0] - y[0]);
  for (const [t, { q }] of order) pairs.push([q, t]);
  if (pairs.length < 8) return undefined;
  const srcArr: number[] = [];
  const dstArr: number[] = [];
  for (const [q, t] of pairs) {
    srcArr.push(ref.points[2 * q]!, ref.points[2 * q + 1]!);
    dstArr.push(claim.points[2 * t]!, claim.points[2 * t + 1]!);
  }
  const src = cv.matFromArray(pairs.length, 1, cv.CV_32FC2, srcArr);
  const dst = cv.matFromArray(pairs.length, 1, cv.CV_32FC2, dstArr);
  const mask = new cv.Mat();
  let H: CV | undefined;
  try {
    const thr = Math.max(3, 0.006 * Math.max(claim.width, claim.height));
    // A copy of the reference has a high inlier ratio and RANSAC stops early; capping the
    // iterations bounds the time spent on unrelated pictures.
    H = cv.findHomography(src, dst, cv.RANSAC, thr, mask, 600, 0.995);
    if (!H || H.rows !== 3) return undefined;
    const h = Array.from(H.data64F as Float64Array);
    let inliers = 0;
    let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
    for (let i = 0; i < pairs.length; i++) {
      if (!mask.data[i]) continue;
      inliers++;
      const x = dstArr[2 * i]!, y = dstArr[2 * i + 1]!;
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
    }
    if (!plausible(h, mirrored)) return undefined;
    const spread = inliers ? ((maxX - minX) * (maxY - minY)) / (claim.width * claim.height) : 0;
    return { homography: mirrored ? h : h, mirrored, inliers, matches: pairs.length, inlierSpread: spread };
  } finally {
    src.delete();
    dst.delete();
    mask.delete();
    H?.delete();
  }
}

/**
 * Rejects degenerate fits: the linear part must keep (or, for the mirrored variant, flip)
 * orientation, the scale must stay within what resizing does, and the perspective must be
 * mild. Points were mapped back to unmirrored claim coordinates, so a mirrored claim gives
 * an orientation-reversing homography.
 */
function plausible(h: number[], mirrored: boolean): boolean {
  if (h.some((v) => !Number.isFinite(v))) return false;
  const det = h[0]! * h[4]! - h[1]! * h[3]!;
  if (mirrored ? det >= 0 : det <= 0) return false;
  const s = Math.sqrt(Math.abs(det));
  if (s < 0.05 || s > 20) return false;
  // anisotropy of the linear part
  const sx = Math.hypot(h[0]!, h[3]!);
  const sy = Math.hypot(h[1]!, h[4]!);
  if (sx / sy > 3 || sy / sx > 3) return false;
  if (Math.abs(h[6]!) > 0.005 || Math.abs(h[7]!) > 0.005) return false;
  return true;
}

/**
 * Refines a feature-based homography by direct image alignment (OpenCV's ECC, which
 * maximises the correlation of the two images and so ignores global brightness/contrast
 * changes), on half-size blurred greyscale copies. Feature inliers can cluster on one part
 * of the picture (a logo, an edited patch); ECC uses every pixel. Returns the refined
 * matrix, or the input when ECC does not converge or moves too far.
 */
export async function refineHomography(
  h: Homography,
  refGray: Uint8Array,
  refW: number,
  refH: number,
  claimGray: Uint8Array,
  claimW: number,
  claimH: number,
  /** Claim pixels (claimW × claimH, 1 = leave out) ECC must not use: found edits, whose new content would pull the fit. */
  claimExclude?: Uint8Array,
  /** ECC iterations (it stops earlier only at a 1e-5 gain, which it rarely reaches). */
  iterations = 30,
): Promise<{ homography: Homography; correlation: number }> {
  const cv: CV = await loadOpenCv();
  const k = Math.min(1, 280 / Math.max(claimW, claimH));
  const kr = Math.min(1, 280 / Math.max(refW, refH));
  const mats: CV[] = [];
  const track = <T>(m: T): T => {
    mats.push(m);
    return m;
  };
  try {
    const c0 = track(new cv.Mat(claimH, claimW, cv.CV_8UC1));
    c0.data.set(claimGray);
    const r0 = track(new cv.Mat(refH, refW, cv.CV_8UC1));
    r0.data.set(refGray);
    const c1 = track(new cv.Mat());
    const r1 = track(new cv.Mat());
    const cw = Math.round(claimW * k), ch = Math.round(claimH * k);
    const rw = Math.round(refW * kr), rh = Math.round(refH * kr);
    cv.resize(c0, c1, new cv.Size(cw, ch), 0, 0, cv.INTER_AREA);
    cv.resize(r0, r1, new cv.Size(rw, rh), 0, 0, cv.INTER_AREA);
    const cf = track(new cv.Mat());
    const rf = track(new cv.Mat());
    c1.convertTo(cf, cv.CV_32F);
    r1.convertTo(rf, cv.CV_32F);
    // the homography in the small frames: S_c · H · S_r⁻¹; ECC wants claim → ref, so invert
    const hs = mul3([k, 0, 0, 0, k, 0, 0, 0, 1], mul3(h, [1 / kr, 0, 0, 0, 1 / kr, 0, 0, 0, 1]));
    const inv = invert3(hs);
    if (!inv) return { homography: h, correlation: 0 };
    const warp = track(cv.matFromArray(3, 3, cv.CV_32F, inv.map((v) => v / inv[8]!)));
    // mask (in the reference's frame, as ECC wants it): reference pixels inside the claim
    const ones = track(new cv.Mat(ch, cw, cv.CV_8UC1, new cv.Scalar(255)));
    if (claimExclude) {
      const o = ones.data as Uint8Array;
      for (let y = 0; y < ch; y++) for (let x = 0; x < cw; x++) {
        const X = Math.min(claimW - 1, Math.floor(x / k)), Y = Math.min(claimH - 1, Math.floor(y / k));
        if (claimExclude[Y * claimW + X]) o[y * cw + x] = 0;
      }
    }
    const mask = track(new cv.Mat());
    const invM = track(cv.matFromArray(3, 3, cv.CV_64FC1, inv));
    cv.warpPerspective(ones, mask, invM, new cv.Size(rw, rh), cv.INTER_NEAREST, cv.BORDER_CONSTANT, new cv.Scalar(0));
    const criteria = new cv.TermCriteria(cv.TermCriteria_COUNT + cv.TermCriteria_EPS, iterations, 1e-5);
    let correlation = 0;
    try {
      correlation = cv.findTransformECC(cf, rf, warp, cv.MOTION_HOMOGRAPHY, criteria, mask, 5);
    } catch (e) {
      if (process.env.CL_DEBUG) console.error('ECC failed', typeof e === 'number' ? cvErr(cv, e) : e);
      return { homography: h, correlation: 0 };
    }
    const w = Array.from(warp.data32F as Float32Array);
    const back = invert3(w);
    if (!back) return { homography: h, correlation };
    const full = mul3([1 / k, 0, 0, 0, 1 / k, 0, 0, 0, 1], mul3(back, [kr, 0, 0, 0, kr, 0, 0, 0, 1]));
    const norm = full.map((v) => v / full[8]!);
    // sanity: ECC must not wander far from the feature fit. A clustered feature fit can be
    // off by a lot at the far corners, so a high final correlation earns a longer leash.
    if (!(correlation > 0.5)) return { homography: h, correlation };
    const limit = (correlation > 0.85 ? 0.15 : 0.04) * Math.max(claimW, claimH);
    let far = false;
    for (const [x, y] of [[0, 0], [refW, 0], [0, refH], [refW, refH]] as const) {
      const [ax, ay] = applyHomography(h, x, y);
      const [bx, by] = applyHomography(norm, x, y);
      const d = Math.hypot(ax - bx, ay - by);
      if (!(d <= limit)) {
        if (process.env.CL_DEBUG) console.error('ECC moved far', correlation, d);
        // beyond twice the leash, or not clearly the better fit of the pictures: keep the features' fit
        if (!(d <= 2 * limit)) return { homography: h, correlation };
        far = true;
      }
    }
    if (far) {
      // A feature fit from few inliers (a small, shrunk claim) can be off by a lot at the
      // corners while ECC, using every pixel, converged: take ECC's when it correlates
      // clearly better than the feature fit over the same pixels.
      const before = maskedCorrelation(cv, cf, rf, inv, track);
      if (process.env.CL_DEBUG) console.error('ECC far: correlation', correlation, 'feature fit', before);
      if (!(correlation > 0.9 && correlation > before + 0.02)) return { homography: h, correlation };
    }
    return { homography: norm, correlation };
  } finally {
    for (const m of mats) m.delete();
  }
}

/**
 * Zero-mean normalised correlation between the claim (small frame) and the reference warped
 * into it by `claimToRef` (claim → reference coordinates), over the claim pixels the
 * reference covers: ECC's own criterion, for a warp ECC did not produce.
 */
function maskedCorrelation(cv: CV, claim: CV, ref: CV, claimToRef: number[], track: <T>(m: T) => T): number {
  const M = track(cv.matFromArray(3, 3, cv.CV_64FC1, claimToRef));
  const size = new cv.Size(claim.cols, claim.rows);
  const warped = track(new cv.Mat());
  cv.warpPerspective(ref, warped, M, size, cv.INTER_LINEAR + cv.WARP_INVERSE_MAP, cv.BORDER_CONSTANT, new cv.Scalar(0));
  const ones = track(new cv.Mat(ref.rows, ref.cols, cv.CV_8UC1, new cv.Scalar(255)));
  const valid = track(new cv.Mat());
  cv.warpPerspective(ones, valid, M, size, cv.INTER_NEAREST + cv.WARP_INVERSE_MAP, cv.BORDER_CONSTANT, new cv.Scalar(0));
  const a = claim.data32F as Float32Array;
  const b = warped.data32F as Float32Array;
  const v = valid.data as Uint8Array;
  let n = 0, sa = 0, sb = 0;
  for (let i = 0; i < v.length; i++) if (v[i]) {
    n++;
    sa += a[i]!;
    sb += b[i]!;
  }
  if (n < 100) return 0;
  const ma = sa / n, mb = sb / n;
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < v.length; i++) if (v[i]) {
    const x = a[i]! - ma, y = b[i]! - mb;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}

function cvErr(cv: CV, e: number): string {
  try {
    return String(cv.exceptionFromPtr(e).msg);
  } catch {
    return String(e);
  }
}

function mul3(a: number[], b: number[]): number[] {
  const o = new Array(9).fill(0);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) for (let k = 0; k < 3; k++) o[r * 3 + c] += a[r * 3 + k]! * b[k * 3 + c]!;
  return o;
}

function invert3(m: number[]): number[] | undefined {
  const [a, b, c, d, e, f, g, h, i] = m as [number, number, number, number, number, number, number, number, number];
  const A = e * i - f * h, B = -(d * i - f * g), C = d * h - e * g;
  const det = a * A + b * B + c * C;
  if (!Number.isFinite(det) || Math.abs(det) < 1e-12) return undefined;
  return [A / det, -(b * i - c * h) / det, (b * f - c * e) / det, B / det, (a * i - c * g) / det, -(a * f - c * d) / det, C / det, -(a * h - b * g) / det, (a * e - b * d) / det];
}

export function applyHomography(h: Homography, x: number, y: number): [number, number] {
  const w = h[6]! * x + h[7]! * y + h[8]!;
  return [(h[0]! * x + h[1]! * y + h[2]!) / w, (h[3]! * x + h[4]! * y + h[5]!) / w];
}
