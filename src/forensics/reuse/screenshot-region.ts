// Where a photo sits inside a phone screenshot.
//
// A buyer who re-uses a picture often sends a screenshot of it (of the listing page, of
// another buyer's review): the photo, full width, between a status bar and app bar above and
// captions, prices and buttons below. For PDQ that is a different image (the frame moves the
// whole DCT: unrelated photos are as far apart), so the reuse matcher also hashes the photo's
// region. This module finds candidate regions; it never changes what the claim photo's own
// hash is.
//
// Method, on the luma downscaled to ≤ 270 px wide (box average, which also flattens JPEG
// noise):
//   1. Only portrait screenshots are considered: height ≥ 1.6 × width (phones are 2:1 or taller).
//   2. Horizontal boundaries: rows where ≥ 55 % of the columns change by ≥ 6 grey levels from
//      two rows above (an edge across the screen: status bar, app bar, the photo's own top
//      and bottom edges).
//   3. The rows between boundaries are segments. A segment is photo-like when its rows are
//      textured (the share of neighbouring pixels differing by ≥ 3 levels, averaged over its
//      rows, ≥ 0.2, and fewer than 40 % of its rows nearly flat); UI (bars, text on a plain
//      background, buttons) is mostly flat. Adjacent photo-like segments are merged (a shelf
//      edge across the photo is a boundary too), and the tallest run at least 30 % of the
//      width tall and at most 92 % of the height is the photo band.
//   4. Each edge of the band is put on the full-resolution row where the picture changes most.
//      A photo with a white background inside a white page has no visible edge on that side,
//      so the band can stop at the product (or run into the app bar). When one edge is clear
//      and the other is not, the usual photo shapes (square, 3:4, 4:3) completed from the
//      clear edge are candidates too (each region costs the lookup 8 more hashes).
// Limits (documented, not hidden): photos shown narrower than the screen (a grid of review
// photos), landscape screenshots and photos cut by the screen's edge are not found.

import type { RawPixels } from '../types.ts';

export interface PhotoRegion {
  /** Pixels of the screenshot as a viewer sees it. */
  x: number;
  y: number;
  width: number;
  height: number;
  /** Why this region: the textured band, or a usual photo shape completed from its clear edge. */
  kind: 'band' | `${'square' | 'portrait_3x4' | 'landscape_4x3'}_${'to_bottom' | 'from_top'}`;
}

const MIN_ASPECT = 1.6;
const WORK_WIDTH = 270;
const EDGE_LEVEL = 6;
const EDGE_SHARE = 0.55;
/** …and by this much more than the calmer of the rows three above and three below. */
const EDGE_OVER_SIDE = 0.3;
const TEXTURE_LEVEL = 3;
const TEXTURE_SHARE = 0.06;
const FLAT_ROW = 0.05;
const FLAT_ROWS_MAX = 0.6;
/** Mean change (grey levels over the width) from which an edge counts as clear. */
const CLEAR_EDGE = 8;
/** Shapes a photo is completed to from its clear edge: height / width. */
const SHAPES: Array<['square' | 'portrait_3x4' | 'landscape_4x3', number]> = [
  ['square', 1],
  ['portrait_3x4', 4 / 3],
  ['landscape_4x3', 3 / 4],
];
/** Segments this short (working rows) between photo-like ones do not end the photo. */
const THIN_ROWS = 4;

/** Candidate photo regions inside a portrait screenshot (viewer coordinates), best first; [] when none. */
export function findScreenshotRegions(gray: RawPixels): PhotoRegion[] {
  const { width: W, height: H } = gray;
  if (W < 64 || H < MIN_ASPECT * W) return [];
  const f = Math.max(1, Math.ceil(W / WORK_WIDTH));
  const w = Math.floor(W / f);
  const h = Math.floor(H / f);
  const L = downscale(gray, f, w, h);

  // 2. boundaries: a row that changes across the screen with calm rows on at least one side
  // (inside a busy photo every row changes; that is texture, not an edge)
  const change = new Float32Array(h);
  for (let y = 2; y < h; y++) {
    let n = 0;
    const a = y * w;
    const b = (y - 2) * w;
    for (let x = 0; x < w; x++) if (Math.abs(L[a + x]! - L[b + x]!) >= EDGE_LEVEL) n++;
    change[y] = n / w;
  }
  const boundary = new Uint8Array(h);
  for (let y = 2; y < h; y++) {
    const calmSide = Math.min(y >= 5 ? change[y - 3]! : 0, y + 3 < h ? change[y + 3]! : 0);
    if (change[y]! >= EDGE_SHARE && change[y]! >= calmSide + EDGE_OVER_SIDE) boundary[y] = 1;
  }
  // row texture
  const texture = new Float32Array(h);
  for (let y = 0; y < h; y++) {
    let n = 0;
    const a = y * w;
    for (let x = 1; x < w; x++) if (Math.abs(L[a + x]! - L[a + x - 1]!) >= TEXTURE_LEVEL) n++;
    texture[y] = n / (w - 1);
  }

  // 3. segments between boundary runs, labelled, photo-like runs merged
  interface Seg { from: number; to: number; photo: boolean }
  const segs: Seg[] = [];
  let y = 0;
  while (y < h) {
    if (boundary[y]) {
      y++;
      continue;
    }
    const from = y;
    while (y < h && !boundary[y]) y++;
    const to = y; // exclusive
    let sum = 0;
    let flat = 0;
    for (let r = from; r < to; r++) {
      sum += texture[r]!;
      if (texture[r]! < FLAT_ROW) flat++;
    }
    const rows = to - from;
    segs.push({ from, to, photo: sum / rows >= TEXTURE_SHARE && flat / rows < FLAT_ROWS_MAX });
  }

  let best: { from: number; to: number } | undefined;
  for (let i = 0; i < segs.length; i++) {
    if (!segs[i]!.photo) continue;
    // extend over boundary rows and thin segments (a shelf edge, a table edge across the
    // photo) to the last photo-like segment before a UI segment
    let last = i;
    for (let j = i + 1; j < segs.length; j++) {
      const sj = segs[j]!;
      if (sj.photo) last = j;
      else if (sj.to - sj.from >= THIN_ROWS) break;
    }
    const from = segs[i]!.from;
    const to = segs[last]!.to;
    if (!best || to - from > best.to - best.from) best = { from, to };
    i = last;
  }
  if (!best) return [];
  const bandH = best.to - best.from + 2;
  if (bandH < 0.3 * w || bandH > 0.92 * h) return [];

  // An edge at row e marks rows e and e + 1 (each compared with two rows above): above the
  // band those are the photo's own first rows; below it they are already outside.
  let first = best.from;
  while (first > best.from - 2 && first > 0 && boundary[first - 1]) first--;
  // the working grid is f pixels coarse: put each edge on the full-resolution row where the
  // picture changes most (a photo's edge is one row; a 1 % error costs PDQ 20–30 bits)
  const top = refineEdge(gray, first * f, 2 * f);
  const bottom = refineEdge(gray, Math.min(H, best.to * f), 2 * f);
  const out: PhotoRegion[] = [{ x: 0, y: top.row, width: W, height: bottom.row - top.row, kind: 'band' }];
  // A side without a clear edge may be where a white product background meets a white page
  // (the band then stops at the product, or runs on into a white app bar): complete the photo
  // from each clear edge with the usual shapes (square, 3:4, 4:3), never across the other
  // edge when that one is clear too.
  const topClear = top.strength >= CLEAR_EDGE;
  const bottomClear = bottom.strength >= CLEAR_EDGE;
  for (const anchor of ['bottom', 'top'] as const) {
    if (anchor === 'bottom' ? !bottomClear : !topClear) continue;
    for (const [shape, ratio] of SHAPES) {
      const h = Math.round(W * ratio);
      const y = anchor === 'bottom' ? bottom.row - h : top.row;
      if (y < 0 || y + h > H) continue;
      if (anchor === 'bottom' ? topClear && y < top.row : bottomClear && y + h > bottom.row) continue;
      if (out.some((r) => Math.abs(r.y - y) < 0.02 * W && Math.abs(r.height - h) < 0.02 * W)) continue;
      out.push({ x: 0, y, width: W, height: h, kind: `${shape}_${anchor === 'bottom' ? 'to_bottom' : 'from_top'}` });
    }
  }
  return out;
}

/**
 * The row y in [estimate − radius, estimate + radius] where the mean absolute change from row
 * y − 1 (over the whole width, first channel) is largest, i.e. the first row below an edge;
 * the estimate itself when no row there changes by a mean of 2 grey levels or more.
 */
function refineEdge(img: RawPixels, estimate: number, radius: number): { row: number; strength: number } {
  const { data, width, height, channels } = img;
  let best = estimate;
  let bestChange = 2;
  let strength = 0;
  for (let y = Math.max(1, estimate - radius); y <= Math.min(height - 1, estimate + radius); y++) {
    let sum = 0;
    const a = y * width * channels;
    const b = (y - 1) * width * channels;
    for (let x = 0; x < width * channels; x += channels) sum += Math.abs(data[a + x]! - data[b + x]!);
    const change = sum / width;
    strength = Math.max(strength, change);
    if (change > bestChange) {
      bestChange = change;
      best = y;
    }
  }
  return { row: best, strength };
}

/** Box-average downscale of the first channel by an integer factor. */
function downscale(img: RawPixels, f: number, w: number, h: number): Float32Array {
  const { data, width, channels } = img;
  const out = new Float32Array(w * h);
  const inv = 1 / (f * f);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let dy = 0; dy < f; dy++) {
        let p = ((y * f + dy) * width + x * f) * channels;
        for (let dx = 0; dx < f; dx++, p += channels) s += data[p]!;
      }
      out[y * w + x] = s * inv;
    }
  }
  return out;
}

/** The pixels of `region` (a copy, same channels). */
export function cropPixels(img: RawPixels, region: PhotoRegion): RawPixels {
  const { channels } = img;
  const out = new Uint8Array(region.width * region.height * channels);
  const rowBytes = region.width * channels;
  for (let y = 0; y < region.height; y++) {
    const src = ((region.y + y) * img.width + region.x) * channels;
    out.set(img.data.subarray(src, src + rowBytes), y * rowBytes);
  }
  return { data: out, width: region.width, height: region.height, channels };
}
