// What a forger does to the edited picture before uploading it: re-encode, resize, crop,
// warp, rotate, mirror, change colours, screenshot it inside an app. Geometry is one
// homography applied to the picture and to its true edit mask alike.

import sharp from 'sharp';
import { loadOpenCv } from '../../src/forensics/reference/opencv.ts';
import type { Rgb } from './edits.ts';
import { Rng } from './random.ts';

export type TransformName =
  | 'reencode_q90'
  | 'jpeg_q40'
  | 'jpeg_q12'
  | 'resize25'
  | 'crop30'
  | 'perspective'
  | 'rotate90'
  | 'rotate8'
  | 'mirror'
  | 'colour'
  | 'screenshot'
  | 'combined';

export const TRANSFORMS: readonly TransformName[] = [
  'reencode_q90', 'jpeg_q40', 'jpeg_q12', 'resize25', 'crop30', 'perspective', 'rotate90', 'rotate8', 'mirror', 'colour', 'screenshot', 'combined',
];

export interface Claim {
  bytes: Buffer;
  /** True edit mask in the claim's pixel grid (1 = edited). */
  mask: Uint8Array;
  width: number;
  height: number;
}

type M3 = number[];
const mul = (a: M3, b: M3): M3 => {
  const o = new Array(9).fill(0);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) for (let k = 0; k < 3; k++) o[r * 3 + c] += a[r * 3 + k]! * b[k * 3 + c]!;
  return o;
};
const I: M3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];

export async function applyTransform(img: Rgb, mask: Uint8Array, name: TransformName, rng: Rng): Promise<Claim> {
  const { width: w, height: h } = img;
  let M = I;
  let W = w;
  let H = h;
  let quality = 90;
  let colour = false;
  let frame = false;
  const crop = (f: number) => {
    // remove up to f of each dimension, split between the two sides at random, but keep the
    // damage in the picture: a forger crops to show it, not to cut it off
    const cw = Math.round(W * (1 - f * rng.range(0.6, 1)));
    const ch = Math.round(H * (1 - f * rng.range(0.6, 1)));
    const b = maskBox(mask, w, h, M);
    const pick = (lo: number, hi: number, span: number) => {
      const a = Math.max(0, lo);
      const z = Math.min(span, hi);
      return a <= z ? Math.round(a + (z - a) * rng.next()) : Math.round(span * rng.next());
    };
    const ox = b ? pick(b.x1 - cw + 2, b.x0 - 2, W - cw) : Math.round((W - cw) * rng.next());
    const oy = b ? pick(b.y1 - ch + 2, b.y0 - 2, H - ch) : Math.round((H - ch) * rng.next());
    M = mul([1, 0, -ox, 0, 1, -oy, 0, 0, 1], M);
    W = cw;
    H = ch;
  };
  const mirror = () => {
    M = mul([-1, 0, W - 1, 0, 1, 0, 0, 0, 1], M);
  };
  const rotate = (deg: number) => {
    const a = (deg * Math.PI) / 180;
    const c = Math.cos(a), s = Math.sin(a);
    const corners = [[0, 0], [W, 0], [0, H], [W, H]].map(([x, y]) => [c * x! - s * y!, s * x! + c * y!]);
    const minX = Math.min(...corners.map((p) => p[0]!)), minY = Math.min(...corners.map((p) => p[1]!));
    const maxX = Math.max(...corners.map((p) => p[0]!)), maxY = Math.max(...corners.map((p) => p[1]!));
    M = mul([c, -s, -minX, s, c, -minY, 0, 0, 1], M);
    W = Math.round(maxX - minX);
    H = Math.round(maxY - minY);
  };
  const scale = (k: number) => {
    M = mul([k, 0, 0, 0, k, 0, 0, 0, 1], M);
    W = Math.max(2, Math.round(W * k));
    H = Math.max(2, Math.round(H * k));
  };
  switch (name) {
    case 'reencode_q90': quality = 90; break;
    case 'jpeg_q40': quality = 40; break;
    case 'jpeg_q12': quality = 12; break;
    case 'resize25': scale(0.25); quality = 85; break;
    case 'crop30': crop(0.3); quality = 88; break;
    case 'perspective': {
      // mild keystone: one side shrinks by ~8–12 %
      const d = rng.range(0.08, 0.12);
      const src = [[0, 0], [w, 0], [w, h], [0, h]];
      const dst = rng.next() < 0.5
        ? [[w * d, h * d * 0.5], [w * (1 - d), h * d * 0.5], [w, h], [0, h]]
        : [[0, 0], [w, h * d], [w, h * (1 - d)], [0, h]];
      M = await perspectiveMatrix(src, dst);
      quality = 88;
      break;
    }
    case 'rotate90': rotate(90); quality = 88; break;
    case 'rotate8': rotate(rng.pick([-8, 8])); quality = 88; break;
    case 'mirror': mirror(); quality = 88; break;
    case 'colour': colour = true; quality = 88; break;
    case 'screenshot': frame = true; quality = 85; break;
    case 'combined': mirror(); crop(0.2); rotate(rng.pick([-5, 5])); scale(0.6); colour = true; quality = 60; break;
  }
  let { data, mask: m } = await warp(img, mask, M, W, H);
  if (colour) data = recolour(data, rng);
  let out: Rgb = { data, width: W, height: H };
  let outMask = m;
  if (frame) ({ image: out, mask: outMask } = await screenshotFrame(out, outMask, rng));
  const bytes = await sharp(out.data, { raw: { width: out.width, height: out.height, channels: 3 } }).jpeg({ quality }).toBuffer();
  return { bytes, mask: outMask, width: out.width, height: out.height };
}

/** Bounding box of the mask after the geometry so far (undefined when the mask is empty). */
function maskBox(mask: Uint8Array, w: number, h: number, M: M3): { x0: number; y0: number; x1: number; y1: number } | undefined {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    if (!mask[y * w + x]) continue;
    const d = M[6]! * x + M[7]! * y + M[8]!;
    const u = (M[0]! * x + M[1]! * y + M[2]!) / d;
    const v = (M[3]! * x + M[4]! * y + M[5]!) / d;
    if (u < x0) x0 = u;
    if (u > x1) x1 = u;
    if (v < y0) y0 = v;
    if (v > y1) y1 = v;
  }
  return x1 >= x0 ? { x0, y0, x1, y1 } : undefined;
}

async function perspectiveMatrix(src: number[][], dst: number[][]): Promise<M3> {
  const cv = await loadOpenCv();
  const a = cv.matFromArray(4, 1, cv.CV_32FC2, src.flat());
  const b = cv.matFromArray(4, 1, cv.CV_32FC2, dst.flat());
  const m = cv.getPerspectiveTransform(a, b);
  const out = Array.from(m.data64F as Float64Array);
  a.delete();
  b.delete();
  m.delete();
  return out;
}

async function warp(img: Rgb, mask: Uint8Array, M: M3, W: number, H: number): Promise<{ data: Uint8Array; mask: Uint8Array }> {
  const cv = await loadOpenCv();
  const src = new cv.Mat(img.height, img.width, cv.CV_8UC3);
  src.data.set(img.data);
  const msrc = new cv.Mat(img.height, img.width, cv.CV_8UC1);
  const m255 = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) m255[i] = mask[i] ? 255 : 0;
  msrc.data.set(m255);
  const mm = cv.matFromArray(3, 3, cv.CV_64FC1, M);
  const dst = new cv.Mat();
  const mdst = new cv.Mat();
  const down = Math.sqrt(Math.abs(M[0]! * M[4]! - M[1]! * M[3]!)) < 0.8;
  let s = src;
  let Mu = M;
  if (down) {
    // shrink with area averaging first, as image editors do, then warp the rest
    const k = Math.sqrt(Math.abs(M[0]! * M[4]! - M[1]! * M[3]!));
    s = new cv.Mat();
    const sw = Math.max(2, Math.round(img.width * k)), sh = Math.max(2, Math.round(img.height * k));
    cv.resize(src, s, new cv.Size(sw, sh), 0, 0, cv.INTER_AREA);
    Mu = mul(M, [img.width / sw, 0, 0, 0, img.height / sh, 0, 0, 0, 1]);
  }
  const mu = cv.matFromArray(3, 3, cv.CV_64FC1, Mu);
  cv.warpPerspective(s, dst, mu, new cv.Size(W, H), cv.INTER_CUBIC, cv.BORDER_REPLICATE);
  // The mask takes the picture's path: shrunk by area first, so that a claim pixel is in the
  // edit when at least half of what it averages was edited. Warped straight from full size,
  // bilinear sampling read one source pixel in four on each axis (at 25 %): a thin crack came
  // out as dots, a chip at the outline could vanish or grow by chance.
  let ms = msrc;
  if (down) {
    ms = new cv.Mat();
    cv.resize(msrc, ms, new cv.Size(s.cols, s.rows), 0, 0, cv.INTER_AREA);
  }
  cv.warpPerspective(ms, mdst, down ? mu : mm, new cv.Size(W, H), cv.INTER_LINEAR, cv.BORDER_CONSTANT, new cv.Scalar(0));
  if (ms !== msrc) ms.delete();
  const data = new Uint8Array(dst.data);
  const md = mdst.data as Uint8Array;
  const out = new Uint8Array(W * H);
  for (let i = 0; i < out.length; i++) out[i] = md[i]! >= 128 ? 1 : 0;
  for (const x of [src, msrc, mm, dst, mdst, mu]) x.delete();
  if (s !== src) s.delete();
  return { data, mask: out };
}

/** Brightness, contrast, saturation and a hue/white-balance shift. */
function recolour(d: Uint8Array, rng: Rng): Uint8Array {
  const gain = rng.range(0.8, 1.25);
  const offset = rng.range(-20, 20);
  const sat = rng.range(0.7, 1.35);
  const wb = [rng.range(0.9, 1.1), 1, rng.range(0.9, 1.1)];
  const gamma = rng.range(0.8, 1.25);
  const out = new Uint8Array(d.length);
  for (let i = 0; i < d.length; i += 3) {
    const y = 0.299 * d[i]! + 0.587 * d[i + 1]! + 0.114 * d[i + 2]!;
    for (let c = 0; c < 3; c++) {
      let v = y + (d[i + c]! - y) * sat;
      v = v * wb[c]!;
      v = 255 * Math.pow(Math.max(0, Math.min(255, v)) / 255, gamma);
      v = v * gain + offset;
      out[i + c] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return out;
}

/** Puts the picture in a phone screenshot: status bar on top, app chrome, grey margins. */
async function screenshotFrame(img: Rgb, mask: Uint8Array, rng: Rng): Promise<{ image: Rgb; mask: Uint8Array }> {
  const W = 1080;
  const k = (W - 2 * 24) / img.width;
  const pw = Math.round(img.width * k);
  const ph = Math.round(img.height * k);
  const top = 96 + 140;
  const H = top + ph + 260;
  const resized = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).resize(pw, ph, { kernel: 'lanczos3' }).raw().toBuffer();
  const m255 = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) m255[i] = mask[i] ? 255 : 0;
  const { data: mres0, info: minfo } = await sharp(m255, { raw: { width: img.width, height: img.height, channels: 1 } })
    .resize(pw, ph, { kernel: 'nearest' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const mres = new Uint8Array(pw * ph);
  for (let i = 0; i < mres.length; i++) mres[i] = mres0[i * minfo.channels]!;
  const out = new Uint8Array(W * H * 3).fill(242);
  const outMask = new Uint8Array(W * H);
  // status bar: dark band with light "clock", "signal", "battery" blocks
  const dark = rng.next() < 0.5;
  for (let y = 0; y < 96; y++) for (let x = 0; x < W; x++) out.fill(dark ? 20 : 250, 3 * (y * W + x), 3 * (y * W + x) + 3);
  const blocks = [[40, 30, 110, 40], [830, 34, 60, 32], [905, 34, 40, 32], [960, 32, 80, 36]];
  for (const [bx, by, bw, bh] of blocks) for (let y = by!; y < by! + bh!; y++) for (let x = bx!; x < bx! + bw!; x++) out.fill(dark ? 235 : 30, 3 * (y * W + x), 3 * (y * W + x) + 3);
  // app title bar
  for (let y = 96; y < top; y++) for (let x = 0; x < W; x++) out.fill(255, 3 * (y * W + x), 3 * (y * W + x) + 3);
  for (let y = 150; y < 182; y++) for (let x = 60; x < 420; x++) out.fill(60, 3 * (y * W + x), 3 * (y * W + x) + 3);
  for (let y = 0; y < ph; y++) {
    for (let x = 0; x < pw; x++) {
      const o = (top + y) * W + 24 + x;
      const i = y * pw + x;
      out[3 * o] = resized[3 * i]!;
      out[3 * o + 1] = resized[3 * i + 1]!;
      out[3 * o + 2] = resized[3 * i + 2]!;
      outMask[o] = mres[i]! >= 128 ? 1 : 0;
    }
  }
  // bottom bar with buttons
  for (let y = H - 160; y < H - 60; y++) for (let x = 80; x < 1000; x++) out.fill(x < 520 ? 230 : 255 - 30, 3 * (y * W + x), 3 * (y * W + x) + 3);
  return { image: { data: out, width: W, height: H }, mask: outMask };
}
