// Compares an EXIF thumbnail with the main picture. Camera thumbnails are small
// (typically 160×120), stored in the sensor's orientation, sometimes letterboxed with
// black bands or cropped to 4:3 when the photo is 3:2 or 16:9. We therefore try the
// thumbnail as stored and turned per the EXIF orientation, and three framings (stretch, crop the main to
// the thumbnail's aspect, crop the thumbnail to the main's aspect) and keep the best
// normalised cross-correlation on a small grid. A thumbnail of the same shot scores
// close to 1; a different picture stays far below.

import { dihedral, ORIENTATION_VARIANT, type GrayImage } from '../orientation.ts';

export type { GrayImage };

export const GRID = 24;

export interface ThumbnailComparison {
  /** Best normalised cross-correlation over variants and framings, −1…1. */
  similarity: number;
  /** Dihedral variant of the thumbnail that matched best (0 = as stored). */
  variant: number;
  framing: 'stretch' | 'crop_main' | 'crop_thumbnail';
  /** Black letterbox bands trimmed from the thumbnail, pixels. */
  trimmed: { top: number; bottom: number; left: number; right: number };
  /** Standard deviation of the thumbnail's grid (a flat thumbnail cannot be compared). */
  thumbnailContrast: number;
  mainContrast: number;
  /** Mean grey level (0–255) of the thumbnail's and the main picture's grids. */
  thumbnailMean: number;
  mainMean: number;
}

interface Rect { x: number; y: number; w: number; h: number }

/** Area-averages a rectangle of `img` onto an n×n grid. */
export function sampleGrid(img: GrayImage, r: Rect, n = GRID): Float32Array {
  const out = new Float32Array(n * n);
  for (let gy = 0; gy < n; gy++) {
    const y0 = r.y + (gy * r.h) / n;
    const y1 = r.y + ((gy + 1) * r.h) / n;
    for (let gx = 0; gx < n; gx++) {
      const x0 = r.x + (gx * r.w) / n;
      const x1 = r.x + ((gx + 1) * r.w) / n;
      let sum = 0;
      let cnt = 0;
      const ys = Math.floor(y0), ye = Math.max(ys + 1, Math.ceil(y1));
      const xs = Math.floor(x0), xe = Math.max(xs + 1, Math.ceil(x1));
      for (let y = ys; y < ye && y < img.height; y++) {
        for (let x = xs; x < xe && x < img.width; x++) {
          sum += img.data[y * img.width + x]!;
          cnt++;
        }
      }
      out[gy * n + gx] = cnt ? sum / cnt : 0;
    }
  }
  return out;
}

export function ncc(a: Float32Array, b: Float32Array): number {
  const n = a.length;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i]!; mb += b[i]!; }
  ma /= n; mb /= n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i]! - ma, db = b[i]! - mb;
    sab += da * db; saa += da * da; sbb += db * db;
  }
  if (saa <= 1e-9 || sbb <= 1e-9) return 0;
  return sab / Math.sqrt(saa * sbb);
}

function std(a: Float32Array): number {
  let m = 0;
  for (const v of a) m += v;
  m /= a.length;
  let s = 0;
  for (const v of a) s += (v - m) ** 2;
  return Math.sqrt(s / a.length);
}

/** Finds black (or near-uniform dark) bands along the thumbnail's edges. */
export function letterbox(img: GrayImage): { top: number; bottom: number; left: number; right: number } {
  const { width: w, height: h, data } = img;
  const rowDark = (y: number) => {
    let s = 0, mx = 0;
    for (let x = 0; x < w; x++) { const v = data[y * w + x]!; s += v; if (v > mx) mx = v; }
    return s / w < 20 && mx < 60;
  };
  const colDark = (x: number, y0: number, y1: number) => {
    let s = 0, mx = 0;
    for (let y = y0; y < y1; y++) { const v = data[y * w + x]!; s += v; if (v > mx) mx = v; }
    return s / Math.max(1, y1 - y0) < 20 && mx < 60;
  };
  let top = 0, bottom = 0, left = 0, right = 0;
  while (top < h / 3 && rowDark(top)) top++;
  while (bottom < h / 3 && rowDark(h - 1 - bottom)) bottom++;
  while (left < w / 3 && colDark(left, top, h - bottom)) left++;
  while (right < w / 3 && colDark(w - 1 - right, top, h - bottom)) right++;
  // A band of one or two pixels is JPEG edge noise, not letterboxing.
  return { top: top > 2 ? top : 0, bottom: bottom > 2 ? bottom : 0, left: left > 2 ? left : 0, right: right > 2 ? right : 0 };
}

function centreCrop(w: number, h: number, aspect: number): Rect {
  if (w / h > aspect) {
    const cw = h * aspect;
    return { x: (w - cw) / 2, y: 0, w: cw, h };
  }
  const ch = w / aspect;
  return { x: 0, y: (h - ch) / 2, w, h: ch };
}

/**
 * Variants worth trying for a file with this EXIF orientation: the thumbnail as stored
 * (some software writes it already upright) and turned like the main picture. Trying
 * all eight would let unrelated pictures find a chance alignment.
 */
export function thumbnailVariants(orientation: number): number[] {
  return [...new Set([0, ORIENTATION_VARIANT[orientation] ?? 0])];
}

/**
 * `main` is the picture downscaled (any size ≥ the grid), oriented as the viewer sees
 * it; `variants` are the dihedral variants of the thumbnail to try (default: all).
 */
export function compareThumbnail(thumbnail: GrayImage, main: GrayImage, variants: number[] = [0, 1, 2, 3, 4, 5, 6, 7]): ThumbnailComparison {
  const bands = letterbox(thumbnail);
  const none = { top: 0, bottom: 0, left: 0, right: 0 };
  const hasBands = bands.top + bands.bottom + bands.left + bands.right > 0;
  // Try with and without trimming: a dark photo's edges look like letterbox bands.
  const untrimmed = compareFramed(thumbnail, none, main, variants);
  if (!hasBands) return untrimmed;
  const trimmed = compareFramed(thumbnail, bands, main, variants);
  return trimmed.similarity > untrimmed.similarity ? trimmed : untrimmed;
}

function compareFramed(
  thumbnail: GrayImage,
  trimmed: ThumbnailComparison['trimmed'],
  main: GrayImage,
  variants: number[],
): ThumbnailComparison {
  const inner: Rect = {
    x: trimmed.left,
    y: trimmed.top,
    w: Math.max(1, thumbnail.width - trimmed.left - trimmed.right),
    h: Math.max(1, thumbnail.height - trimmed.top - trimmed.bottom),
  };
  const innerData = new Float32Array(inner.w * inner.h);
  for (let y = 0; y < inner.h; y++) {
    for (let x = 0; x < inner.w; x++) {
      innerData[y * inner.w + x] = thumbnail.data[(y + inner.y) * thumbnail.width + x + inner.x]!;
    }
  }
  const innerImg: GrayImage = { data: innerData, width: inner.w, height: inner.h };
  const mainFull: Rect = { x: 0, y: 0, w: main.width, h: main.height };
  const mainAspect = main.width / main.height;
  const mainGrid = sampleGrid(main, mainFull);
  let best: Pick<ThumbnailComparison, 'similarity' | 'variant' | 'framing'> = {
    similarity: -1,
    variant: 0,
    framing: 'stretch',
  };
  let thumbnailContrast = 0;
  let thumbnailMean = 0;
  for (const v of variants) {
    const t = dihedral(innerImg, v);
    const tFull: Rect = { x: 0, y: 0, w: t.width, h: t.height };
    const tAspect = t.width / t.height;
    const tGrid = sampleGrid(t, tFull);
    thumbnailContrast = std(tGrid);
    thumbnailMean = mean(tGrid);
    const tries: [ThumbnailComparison['framing'], Float32Array, Float32Array][] = [
      ['stretch', tGrid, mainGrid],
      ['crop_main', tGrid, sampleGrid(main, centreCrop(main.width, main.height, tAspect))],
      ['crop_thumbnail', sampleGrid(t, centreCrop(t.width, t.height, mainAspect)), mainGrid],
    ];
    for (const [framing, a, b] of tries) {
      const s = ncc(a, b);
      // Prefer the stored orientation on ties so the evidence names the simplest reading.
      if (s > best.similarity + 1e-6) best = { similarity: s, variant: v, framing };
    }
  }
  return {
    ...best,
    trimmed,
    thumbnailContrast,
    mainContrast: std(mainGrid),
    thumbnailMean,
    mainMean: mean(mainGrid),
  };
}

function mean(a: Float32Array): number {
  let m = 0;
  for (const v of a) m += v;
  return a.length ? m / a.length : 0;
}

export interface CropMatch {
  /** Best correlation of the main picture with a window of the thumbnail. */
  similarity: number;
  variant: number;
  /** The window in thumbnail pixels (after band trimming and the variant's turn). */
  window: { x: number; y: number; width: number; height: number };
  /** Window area / thumbnail area: how much of the captured scene the main picture keeps. */
  areaFraction: number;
}

const CROP_GRID = 12;
const REFINE_GRID = 20;
/** Smallest crop searched, as a fraction of the thumbnail's side (0.45 → about a fifth of the area). */
const MIN_CROP_SCALE = 0.45;
/**
 * Aspect ratios the original shot may have had. Cameras stretch the whole frame into a
 * 160×120 thumbnail, so a crop's shape inside the thumbnail depends on the original's
 * aspect, which the edited file no longer tells.
 */
const SHOT_ASPECTS = [4 / 3, 3 / 2, 16 / 9, 1, 3 / 4, 2 / 3, 9 / 16];

/**
 * Looks for the main picture inside the thumbnail: a photo cropped after capture by
 * software that kept the camera's thumbnail. Windows shaped like the main picture (for
 * each plausible original aspect) are slid over the thumbnail at several scales; box
 * sums come from an integral image so each window costs only its grid.
 */
export function findCrop(thumbnail: GrayImage, main: GrayImage, variants: number[]): CropMatch | undefined {
  const mainGrid = sampleGrid(main, { x: 0, y: 0, w: main.width, h: main.height }, CROP_GRID);
  // The refinement scores on a finer grid: a true crop keeps its correlation there,
  // while a chance alignment of an unrelated picture loses it.
  const fineMainGrid = sampleGrid(main, { x: 0, y: 0, w: main.width, h: main.height }, REFINE_GRID);
  const mainAspect = main.width / main.height;
  let best: CropMatch | undefined;
  for (const v of variants) {
    const t = dihedral(thumbnail, v);
    const tw = t.width;
    const th = t.height;
    const integral = new Float64Array((tw + 1) * (th + 1));
    for (let y = 0; y < th; y++) {
      let row = 0;
      for (let x = 0; x < tw; x++) {
        row += t.data[y * tw + x]!;
        integral[(y + 1) * (tw + 1) + x + 1] = integral[y * (tw + 1) + x + 1]! + row;
      }
    }
    const boxMean = (x0: number, y0: number, x1: number, y1: number) => {
      const ax = Math.floor(x0), ay = Math.floor(y0);
      const bx = Math.max(ax + 1, Math.round(x1)), by = Math.max(ay + 1, Math.round(y1));
      const s = integral[by * (tw + 1) + bx]! - integral[ay * (tw + 1) + bx]! - integral[by * (tw + 1) + ax]! + integral[ay * (tw + 1) + ax]!;
      return s / ((bx - ax) * (by - ay));
    };
    const grids = new Map<number, Float32Array>();
    const score = (x: number, y: number, w: number, h: number, n = CROP_GRID): number => {
      if (x < 0 || y < 0 || w < n || h < n || x + w > tw + 1e-6 || y + h > th + 1e-6) return -2;
      let grid = grids.get(n);
      if (!grid) grids.set(n, (grid = new Float32Array(n * n)));
      for (let gy = 0; gy < n; gy++) {
        for (let gx = 0; gx < n; gx++) {
          grid[gy * n + gx] = boxMean(x + (gx * w) / n, y + (gy * h) / n, x + ((gx + 1) * w) / n, y + ((gy + 1) * h) / n);
        }
      }
      return ncc(grid, n === CROP_GRID ? mainGrid : fineMainGrid);
    };
    const coarse: { s: number; x: number; y: number; w: number; aspect: number }[] = [];
    // Window aspect in thumbnail pixels = main aspect × thumbnail aspect / shot aspect.
    const windowAspects = [...new Set([mainAspect, ...SHOT_ASPECTS.map((a) => (mainAspect * (tw / th)) / a)].map((a) => Math.round(a * 100) / 100))];
    for (const aspect of windowAspects) {
      const maxW = Math.min(tw, th * aspect);
      for (let scale = 1; scale >= MIN_CROP_SCALE - 1e-9; scale -= 0.075) {
        const w = maxW * scale;
        const h = w / aspect;
        if (w < CROP_GRID || h < CROP_GRID || h > th + 1e-6) continue;
        const step = Math.max(1, Math.round(Math.min(w, h) / 12));
        for (let y = 0; y + h <= th + 1e-6; y += step) {
          for (let x = 0; x + w <= tw + 1e-6; x += step) {
            const sc = score(x, y, w, h);
            coarse.push({ s: sc, x, y, w, aspect });
          }
        }
      }
    }
    // Refine the best coarse windows: the coarse lattice can sit half a cell off the
    // true crop, which costs a few points of correlation. Coordinate descent on x, y and
    // size with halving steps, down to a quarter pixel.
    coarse.sort((a, b) => b.s - a.s);
    for (const c of coarse.slice(0, 4)) {
      let { x, y, w } = c;
      const h = () => w / c.aspect;
      let cur = score(x, y, w, h(), REFINE_GRID);
      for (let step = Math.max(1, Math.min(w, h()) / 12); step >= 0.25; step /= 2) {
        let improved = true;
        while (improved) {
          improved = false;
          for (const [dx, dy, dw] of [[step, 0, 0], [-step, 0, 0], [0, step, 0], [0, -step, 0], [0, 0, step], [0, 0, -step], [-step / 2, -step / 2 / c.aspect, step], [step / 2, step / 2 / c.aspect, -step]] as const) {
            const nw = w + dw;
            const sc = score(x + dx, y + dy, nw, nw / c.aspect, REFINE_GRID);
            if (sc > cur + 1e-6) {
              cur = sc;
              x += dx;
              y += dy;
              w = nw;
              improved = true;
            }
          }
        }
      }
      if (!best || cur > best.similarity) {
        best = {
          similarity: cur,
          variant: v,
          window: { x: Math.round(x), y: Math.round(y), width: Math.round(w), height: Math.round(h()) },
          areaFraction: (w * h()) / (tw * th),
        };
      }
    }
  }
  return best;
}
