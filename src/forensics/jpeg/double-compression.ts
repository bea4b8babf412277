// Aligned double JPEG compression, measured on the quantized DCT coefficients of the luma
// channel, and a per-block map of which parts of the picture do not share that history.
//
// Why it finds local edits: a forger opens a JPEG (the merchant's photo, or their own photo
// of an intact item), paints damage into it and saves it again. Every 8×8 block that was left
// alone has now been quantized twice on the same grid, first with step q1 and then with q2,
// and its coefficients keep a periodic trace of the first step: some multiples of q2 are
// over-filled, some nearly empty. Blocks whose pixels were painted anew were quantized once
// only, and their coefficients follow the plain single-compression law. The likelihood ratio
// between the two laws, block by block, is a map of the edit. (The model is the classic one of
// the image-forensics literature on aligned double JPEG: Lin et al. 2009, Bianchi & Piva 2012.)
//
// How the two laws are obtained without knowing the original picture: the distribution of
// unquantized coefficients is estimated by "calibration": the decoded picture is cut on a grid
// shifted by 4 pixels, where the old quantization grid leaves no trace, and transformed again.
// From those samples, P0 (quantized once with q2) and P1 (quantized with q1, decoded with a
// small rounding noise, quantized with q2) are computed for every candidate q1; the q1 that
// best explains the observed histogram (a mixture of P1 and P0, as an edit leaves a part of the
// blocks single-compressed) is kept when it beats P0 alone by a clear margin.
//
// Pure: coefficients in, numbers out.

import { fdctAt, idctQuarter, ZIGZAG } from './dct.ts';
import { matchQuality, standardLumaStep, type QualityMatch } from './quality.ts';

/** The luma component's quantized coefficients (see coefficients.ts for the full reader). */
export interface LumaCoefficients {
  /** Quantization table, natural order. */
  quant: ArrayLike<number>;
  /** Storage grid width in blocks (the coefficient array's stride). */
  blocksPerLine: number;
  /** Blocks covering the picture. */
  blocksWide: number;
  blocksHigh: number;
  /** 64 quantized coefficients per block, natural order, blocks row-major on the storage grid. */
  coefficients: Int16Array;
}

/** What the fit found at one DCT frequency. */
export interface FrequencyFit {
  /** Zig-zag index (1 = first AC). */
  zigzag: number;
  /** Quantization step of the last compression at this frequency. */
  q2: number;
  /** Best first-compression step, or undefined when no q1 explains the histogram better than one compression. */
  q1?: number;
  /** Log-likelihood gain of the best double-compression mixture over one compression, per 1000 blocks. */
  gainPerKiloBlock: number;
  /** Total log-likelihood gain (nats). */
  gain: number;
  /** Share of blocks the mixture gives to the double-compression law. */
  share: number;
  /** Non-zero coefficients at this frequency. */
  nonZero: number;
}

export interface DoubleCompressionAnalysis {
  blocksWide: number;
  blocksHigh: number;
  fits: FrequencyFit[];
  /** Frequencies whose fit counts as evidence of double compression. */
  used: FrequencyFit[];
  /** The rounding noise (DCT units) that explains the double-compressed frequencies best. */
  noiseSigma?: number;
  /** The scaled standard table closest to the first save's steps (agreement 1 = all of them). */
  firstSave?: QualityMatch;
  /** Whether blockLogRatio was drawn (compressed twice, one standard table names the first save, and its steps are clearly coarser). */
  mapped: boolean;
  /** Enough frequencies show a coarser first step: the picture was saved twice on the same grid. */
  compressedTwice: boolean;
  /** Sum of the used fits' gains (nats): how strongly the picture as a whole shows two compressions. */
  evidence: number;
  /**
   * Per block (blocksWide × blocksHigh, row-major), log P(coefficients | double) − log P(… | single)
   * over the used frequencies; positive = consistent with the rest of the picture, negative =
   * quantized once only. NaN where the block carries no usable coefficient (flat areas).
   */
  blockLogRatio: Float32Array;
}

/** Zig-zag positions examined: low AC frequencies, where most non-zero coefficients live. */
const ZIGZAG_FIRST = 1;
const ZIGZAG_LAST = 20;
/** Coefficient range modelled; larger values are rare and say little. */
const MAX_ABS = 60;
/**
 * Standard deviation of the decode-and-resave rounding noise, in DCT units, used to pick q1.
 * Pixel rounding alone gives 0.29; colour conversion, chroma resampling and the decoder's
 * integer transform add to it, by an amount that differs from one tool chain to the next. At
 * 0.9 the search took a multiple of the true step (6 for 3) on quality 85 → 90 pairs, and the
 * map built on it flagged two thirds of an unedited picture. The map itself then uses the
 * value that explains this picture best (SIGMA_GRID): too small and noisy but unedited blocks
 * read as saved once, too large and real edits fade.
 */
const SEARCH_SIGMA = 0.5;
const SIGMA_GRID = [0.35, 0.45, 0.55, 0.7, 0.9, 1.1, 1.4];
const BINS = 2 * MAX_ABS + 1;
/** Smallest |coefficient| (in DCT units, i.e. times its step) that votes in the block map. */
const MIN_MAGNITUDE = 3;
/** Floor mixed into P1 so that a coefficient the model calls impossible costs a bounded penalty. */
const P1_FLOOR = 0.03;
/**
 * Calibration samples: shifted blocks transformed, spread over the picture. 6000 gave the same
 * eval figures as 12,000 (every TPR/FPR key equal) at half the cost.
 */
const MAX_CALIBRATION_BLOCKS = 6_000;
/**
 * A frequency counts when its best q1 is coarser than q2 and beats one compression by this many
 * nats per 1000 blocks, and in total. Coarser only: a first step finer than the second leaves
 * a trace too faint to map blocks with (and single-compressed pictures at quality 95 reach
 * 8–12 nats per 1000 blocks with a spurious q1 = 2·q2 … 1, on the in-store photos), whereas
 * every coarser first step measured gave ≥ 250.
 */
const MIN_GAIN_PER_KILO = 40;
const MIN_GAIN = 20;
/** Share of the first save's estimated steps one scaled standard table must give for the others to be snapped to it. */
const TABLE_AGREEMENT = 0.6;
/**
 * Share of the first save's steps, as estimated before snapping, that one scaled table must give
 * for the map to be drawn (snapping itself needs TABLE_AGREEMENT). Measured: 0.70–1.0 after two
 * saves, 0.25–0.45 after three (in-store photos → 85 → 90, → 90 → 95), and 0.63 for the one
 * three-save photo that still had a texture flagged.
 */
const MAP_AGREEMENT = 0.68;
/** Median first step / last step over the used frequencies below which no map is drawn. */
const MIN_STEP_RATIO = 1.4;
/** The picture counts as compressed twice when at least this many frequencies do. */
export const MIN_USED_FREQUENCIES = 3;
/** Frequencies with fewer non-zero coefficients than this say nothing reliable. */
const MIN_NON_ZERO = 200;
/** Pictures smaller than this (in blocks) are not analysed. */
export const MIN_BLOCKS = 256;

/**
 * Fits the double-compression model and returns the per-block map, or undefined when the
 * picture is too small or too flat to say anything. `unreliable` (per block, blocksWide ×
 * blocksHigh) marks blocks the map must not judge (see unjudgedBlocks); as a function it is
 * called only when a map is drawn (most photos were saved once, and the mask costs a pass over
 * every pixel).
 */
export function analyseDoubleCompression(y: LumaCoefficients, opts: { unreliable?: Uint8Array | (() => Uint8Array) } = {}): DoubleCompressionAnalysis | undefined {
  const { blocksWide: bw, blocksHigh: bh } = y;
  if (bw < 2 || bh < 2 || bw * bh < MIN_BLOCKS) return undefined;
  const freqs: number[] = [];
  for (let z = ZIGZAG_FIRST; z <= ZIGZAG_LAST; z++) freqs.push(ZIGZAG[z]!);
  const calibration = calibrate(y, freqs);
  const histograms = observedHistograms(y, freqs);
  const fits: FrequencyFit[] = [];
  const laws: (Laws | undefined)[] = [];
  for (let fi = 0; fi < freqs.length; fi++) {
    const k = freqs[fi]!;
    const q2 = y.quant[k]!;
    const hist = histograms[fi]!;
    const { fit, law } = fitFrequency(hist, calibration[fi]!, q2, ZIGZAG_FIRST + fi);
    fits.push(fit);
    laws.push(law);
  }
  const isUsed = (f: FrequencyFit) => f.q1 !== undefined && f.q1 > f.q2 && f.gain >= MIN_GAIN && f.gainPerKiloBlock >= MIN_GAIN_PER_KILO && f.nonZero >= MIN_NON_ZERO;
  // Most software saves with one of a few standard tables scaled to a quality (quality.ts). A
  // histogram is explained almost as well by a multiple of the true first step (6 for 3), and
  // on quality 85 → 90 pairs a few frequencies took one, which put unedited blocks on the wrong
  // lattice. When most estimates agree with one scaled table, the odd ones out are fitted again
  // at that table's step.
  let firstSave = matchQuality(fits.filter(isUsed).map((f) => ({ index: ZIGZAG[f.zigzag]!, step: f.q1! })));
  const estimatedAgreement = firstSave?.agreement ?? 0;
  if (firstSave && firstSave.agreement >= TABLE_AGREEMENT) {
    for (let fi = 0; fi < freqs.length; fi++) {
      const step = standardLumaStep(firstSave.quality, freqs[fi]!, firstSave.table);
      const f = fits[fi]!;
      if (f.q1 === undefined || f.q1 === step || step === f.q2) continue;
      const again = fitFrequency(histograms[fi]!, calibration[fi]!, f.q2, f.zigzag, [step]);
      fits[fi] = again.fit;
      laws[fi] = again.law;
    }
    firstSave = matchQuality(fits.filter(isUsed).map((f) => ({ index: ZIGZAG[f.zigzag]!, step: f.q1! })));
  }
  const used = fits.filter(isUsed);
  const blockLogRatio = new Float32Array(bw * bh).fill(Number.NaN);
  let noiseSigma: number | undefined;
  // The map is drawn only when one scaled table names the first save (as estimated, before
  // snapping, which would make any history agree). Otherwise the history is
  // not the one the model describes: after three saves (70, 90 and 95 for instance) some
  // frequencies show the first save's lattice and others the second's, only 26–58 % of the
  // estimates fit any one table (100 % after two saves), and the map flagged unedited textures
  // in 4 of 20 such photos. A camera's own table (no family here) is left out for the same
  // reason; those photos still get jpeg.recompressed, not a local claim.
  const oneTable = firstSave !== undefined && estimatedAgreement >= MAP_AGREEMENT;
  // Nor when the first step is barely coarser than the last: at quality 75 → 80 (steps 1.25×)
  // the two laws differ too little per block, and unedited in-store photos had patches of 86–95
  // nats flagged; every pair the evaluation covers is 1.5× or more.
  const ratios = used.map((f) => f.q1! / f.q2).sort((a, b) => a - b);
  const strongEnough = ratios.length > 0 && ratios[ratios.length >> 1]! >= MIN_STEP_RATIO;
  const mapped = used.length >= MIN_USED_FREQUENCIES && oneTable && strongEnough;
  if (mapped) {
    const usedIdx = fits.flatMap((f, i) => (isUsed(f) ? [i] : []));
    const p1At = (fi: number, sigma: number) => doubleLaw(laws[fi]!.samples, fits[fi]!.q1!, fits[fi]!.q2, laws[fi]!.p0, sigma);
    let bestLl = -Infinity;
    for (const sigma of SIGMA_GRID) {
      let ll = 0;
      for (const fi of usedIdx) ll += mixtureFit(laws[fi]!.hist, p1At(fi, sigma), laws[fi]!.p0).ll;
      if (ll > bestLl) {
        bestLl = ll;
        noiseSigma = sigma;
      }
    }
    // per used frequency: its position in a block, its step, and log P1(c)/P0(c) at c + MAX_ABS
    const votes = usedIdx.map((fi) => {
      const p1 = p1At(fi, noiseSigma!);
      const p0 = laws[fi]!.p0;
      return { k: freqs[fi]!, step: fits[fi]!.q2, ratio: Float64Array.from(p1, (v, i) => Math.log(v / p0[i]!)) };
    });
    const unreliable = typeof opts.unreliable === 'function' ? opts.unreliable() : opts.unreliable;
    for (let by = 0; by < bh; by++) {
      for (let bx = 0; bx < bw; bx++) {
        if (unreliable?.[by * bw + bx]) continue;
        const base = (by * y.blocksPerLine + bx) * 64;
        let sum = 0;
        let informative = 0;
        for (const v of votes) {
          const c = y.coefficients[base + v.k]!;
          // Only coefficients clearly above the rounding noise vote. A zero is what a flat
          // patch gives under either history, and a ±1 at a step of 1–2 is mostly the
          // decoder's rounding: a smooth, flat wall full of them read as "saved once" over
          // 72 blocks of an unedited re-save before this floor.
          const m = c < 0 ? -c : c;
          if (m * v.step < MIN_MAGNITUDE || m > MAX_ABS) continue;
          sum += v.ratio[c + MAX_ABS]!;
          informative++;
        }
        if (informative > 0) blockLogRatio[by * bw + bx] = sum;
      }
    }
  }
  const compressedTwice = used.length >= MIN_USED_FREQUENCIES;
  return { blocksWide: bw, blocksHigh: bh, fits, used, compressedTwice, firstSave: compressedTwice ? firstSave : undefined, mapped, noiseSigma, evidence: compressedTwice ? used.reduce((s, f) => s + f.gain, 0) : 0, blockLogRatio };
}

/**
 * Histograms of the examined frequencies' quantized values over the picture's blocks (index
 * c + MAX_ABS), in one pass: the coefficient array of an 18 MP photo is 36 MB, and a pass per
 * frequency cost 20 sweeps through it.
 */
function observedHistograms(y: LumaCoefficients, freqs: number[]): Float64Array[] {
  const hs = freqs.map(() => new Float64Array(BINS));
  const n = freqs.length;
  for (let by = 0; by < y.blocksHigh; by++) {
    let base = by * y.blocksPerLine * 64;
    for (let bx = 0; bx < y.blocksWide; bx++, base += 64) {
      for (let f = 0; f < n; f++) {
        const c = y.coefficients[base + freqs[f]!]!;
        if (c >= -MAX_ABS && c <= MAX_ABS) hs[f]![c + MAX_ABS]!++;
      }
    }
  }
  return hs;
}

/**
 * Unquantized coefficient samples for each examined frequency: blocks of the decoded picture
 * on the grid shifted by (4, 4), transformed again.
 */
function calibrate(y: LumaCoefficients, freqs: number[]): Float64Array[] {
  const { blocksWide: bw, blocksHigh: bh, blocksPerLine: stride, quant } = y;
  const positions = (bw - 1) * (bh - 1);
  const step = Math.max(1, positions / MAX_CALIBRATION_BLOCKS);
  const count = Math.min(positions, Math.floor(positions / step));
  const out = freqs.map(() => new Float64Array(count));
  const deq = new Float64Array(64);
  const corner = new Float64Array(16);
  const win = new Float64Array(64);
  const coef = new Float64Array(freqs.length);
  for (let n = 0; n < count; n++) {
    const p = Math.floor(n * step);
    const bx = p % (bw - 1);
    const by = Math.floor(p / (bw - 1));
    // the window shifted by (4, 4) holds one quarter of each of the 2×2 blocks around it
    for (let dy = 0; dy < 2; dy++) {
      for (let dx = 0; dx < 2; dx++) {
        const base = ((by + dy) * stride + bx + dx) * 64;
        for (let i = 0; i < 64; i++) deq[i] = y.coefficients[base + i]! * quant[i]!;
        idctQuarter(deq, dy === 0 ? 4 : 0, dx === 0 ? 4 : 0, corner);
        for (let r = 0; r < 4; r++) {
          for (let c = 0; c < 4; c++) {
            // the decoder's output: rounded and clipped 8-bit samples
            let v = Math.round(corner[r * 4 + c]! + 128);
            v = v < 0 ? 0 : v > 255 ? 255 : v;
            win[(dy * 4 + r) * 8 + dx * 4 + c] = v - 128;
          }
        }
      }
    }
    fdctAt(win, freqs, coef);
    for (let fi = 0; fi < freqs.length; fi++) out[fi]![n] = coef[fi]!;
  }
  return out;
}


/** One frequency's observed histogram, calibration samples and single-compression law. */
interface Laws {
  hist: Float64Array;
  samples: Float64Array;
  p0: Float64Array;
}

function fitFrequency(hist: Float64Array, samples: Float64Array, q2: number, zigzag: number, candidates?: number[]): { fit: FrequencyFit; law?: Laws } {
  let total = 0;
  for (let i = 0; i < BINS; i++) total += hist[i]!;
  const nonZero = total - hist[MAX_ABS]!;
  const none: FrequencyFit = { zigzag, q2, gainPerKiloBlock: 0, gain: 0, share: 0, nonZero };
  if (q2 < 1 || nonZero < MIN_NON_ZERO || samples.length === 0) return { fit: none };
  const p0 = singleLaw(samples, q2);
  let ll0 = 0;
  for (let i = 0; i < BINS; i++) if (hist[i]! > 0) ll0 += hist[i]! * Math.log(p0[i]!);
  let best: { q1: number; ll: number; share: number } | undefined;
  const maxQ1 = Math.min(3 * q2 + 4, 120);
  for (const q1 of candidates ?? Array.from({ length: maxQ1 }, (_, i) => i + 1)) {
    if (q1 === q2) continue;
    const p1 = doubleLaw(samples, q1, q2, p0, SEARCH_SIGMA);
    const { ll, share } = mixtureFit(hist, p1, p0);
    if (!best || ll > best.ll) best = { q1, ll, share };
  }
  if (!best) return { fit: none };
  const gain = best.ll - ll0;
  const fit: FrequencyFit = { zigzag, q2, q1: best.q1, gainPerKiloBlock: (1000 * gain) / total, gain, share: best.share, nonZero };
  return { fit, law: { hist, samples, p0 } };
}

/** P(c) after one quantization with step q2, from the calibration samples (add-half smoothing). */
function singleLaw(samples: Float64Array, q2: number): Float64Array {
  const p = new Float64Array(BINS).fill(0.5);
  for (const s of samples) {
    const c = Math.round(s / q2);
    if (c >= -MAX_ABS && c <= MAX_ABS) p[c + MAX_ABS]!++;
  }
  return normalise(p);
}

/**
 * P(c) after quantizing with q1, decoding (a Gaussian rounding noise) and quantizing with q2,
 * mixed with a small floor of the single law.
 */
function doubleLaw(samples: Float64Array, q1: number, q2: number, single: Float64Array, sigma: number): Float64Array {
  const reach = Math.ceil((4 * sigma) / q2) + 1;
  // first-quantized values that can land inside the modelled range; the rest cannot matter
  const J = Math.ceil(((MAX_ABS + reach + 1) * q2) / q1);
  const first = new Float64Array(2 * J + 1);
  for (let i = 0; i < samples.length; i++) {
    const j = Math.round(samples[i]! / q1);
    if (j >= -J && j <= J) first[j + J]!++;
  }
  const p = new Float64Array(BINS);
  for (let j = -J; j <= J; j++) {
    const n = first[j + J]!;
    if (n === 0) continue;
    const z = j * q1;
    const centre = Math.round(z / q2);
    let below = normalCdf(((centre - reach - 0.5) * q2 - z) / sigma);
    for (let c = centre - reach; c <= centre + reach; c++) {
      const above = normalCdf(((c + 0.5) * q2 - z) / sigma);
      if (c >= -MAX_ABS && c <= MAX_ABS && above > below) p[c + MAX_ABS]! += n * (above - below);
      below = above;
    }
  }
  normalise(p);
  for (let i = 0; i < BINS; i++) p[i] = (1 - P1_FLOOR) * p[i]! + P1_FLOOR * single[i]!;
  return p;
}

/** Maximum-likelihood share of the double law in a two-law mixture (EM), and its log-likelihood. */
function mixtureFit(hist: Float64Array, p1: Float64Array, p0: Float64Array): { ll: number; share: number } {
  let a = 0.5;
  let total = 0;
  for (let i = 0; i < BINS; i++) total += hist[i]!;
  for (let it = 0; it < 40; it++) {
    let r = 0;
    for (let i = 0; i < BINS; i++) {
      const h = hist[i]!;
      if (h === 0) continue;
      const m1 = a * p1[i]!;
      r += (h * m1) / (m1 + (1 - a) * p0[i]!);
    }
    const next = r / total;
    if (Math.abs(next - a) < 1e-5) {
      a = next;
      break;
    }
    a = next;
  }
  let ll = 0;
  for (let i = 0; i < BINS; i++) if (hist[i]! > 0) ll += hist[i]! * Math.log(a * p1[i]! + (1 - a) * p0[i]!);
  return { ll, share: a };
}

function normalise(p: Float64Array): Float64Array {
  let s = 0;
  for (let i = 0; i < p.length; i++) s += p[i]!;
  if (s > 0) for (let i = 0; i < p.length; i++) p[i] = p[i]! / s;
  return p;
}

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 erf, error < 1.5e-7). */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496735) * t + 0.254829592) * t * Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}
