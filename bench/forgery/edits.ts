// Local "damage" edits of the kinds refund fraudsters add to a merchant's photo: cracks
// with shading, stains, tears, dents, chips, dirt, a missing broken piece; pasted (hard
// edges), blended (soft alpha) or drawn (strokes). Each edit returns the edited pixels and
// the true edit mask (pixels the edit visibly changed).

import sharp from 'sharp';
import { Rng } from './random.ts';

export type EditKind = 'crack' | 'stain' | 'tear' | 'dent' | 'chip' | 'dirt' | 'missing';
export const EDIT_KINDS: readonly EditKind[] = ['crack', 'stain', 'tear', 'dent', 'chip', 'dirt', 'missing'];

export interface Rgb {
  data: Uint8Array;
  width: number;
  height: number;
}

export interface EditResult {
  image: Rgb;
  /** 1 where the edit changed the picture visibly. */
  mask: Uint8Array;
  kind: EditKind;
  style: 'pasted' | 'blended' | 'drawn';
}

type Pt = [number, number];

/** Applies one edit of `kind` inside `object` (1 = object pixel). */
export async function applyEdit(img: Rgb, object: Uint8Array, kind: EditKind, rng: Rng, backdrop: [number, number, number]): Promise<EditResult> {
  const { width: w, height: h } = img;
  const box = bbox(object, w, h);
  const size = Math.sqrt(box.w * box.h);
  const alpha = new Float32Array(w * h);
  // per-pixel target colour or shading delta
  const target = new Float32Array(w * h * 3);
  const out = new Float32Array(img.data);
  let style: EditResult['style'] = 'blended';
  const inside = () => pickInside(object, w, h, box, rng);

  if (kind === 'crack') {
    style = 'drawn';
    const t = Math.max(1.5, 0.006 * size);
    const start = inside();
    const len = rng.range(0.25, 0.45) * size;
    const main = walk(start, rng.range(0, 2 * Math.PI), len, t * 3, rng);
    const branches = [main];
    const nb = rng.int(1, 3);
    for (let b = 0; b < nb; b++) {
      const p = main[rng.int(1, main.length - 1)]!;
      branches.push(walk(p, rng.range(0, 2 * Math.PI), len * rng.range(0.2, 0.4), t * 3, rng));
    }
    const hl = new Float32Array(w * h);
    for (const line of branches) {
      strokePolyline(alpha, w, h, line, t, 0.92);
      strokePolyline(hl, w, h, line.map(([x, y]) => [x + t * 1.2, y + t * 1.2] as Pt), t * 0.8, 0.55);
    }
    for (let i = 0; i < w * h; i++) {
      if (hl[i]! > 0 && alpha[i]! === 0) {
        alpha[i] = hl[i]!;
        for (let c = 0; c < 3; c++) target[3 * i + c] = Math.min(255, img.data[3 * i + c]! + 70);
      } else if (alpha[i]! > 0) for (let c = 0; c < 3; c++) target[3 * i + c] = img.data[3 * i + c]! * 0.2 + 8;
    }
  } else if (kind === 'stain') {
    style = 'blended';
    const c0 = inside();
    const r = rng.range(0.07, 0.16) * size;
    blob(alpha, w, h, c0, r, rng, rng.range(0.45, 0.8));
    await blurInPlace(alpha, w, h, Math.max(1, r * 0.08));
    const col = rng.pick([[105, 72, 35], [70, 60, 50], [150, 110, 40], [60, 75, 40]] as const);
    for (let i = 0; i < w * h; i++) for (let c = 0; c < 3; c++) target[3 * i + c] = (img.data[3 * i + c]! * col[c]!) / 255;
  } else if (kind === 'tear') {
    style = 'pasted';
    const e = edgePoint(object, w, h, box, rng);
    const r = rng.range(0.08, 0.15) * size;
    const poly = jaggedPolygon(e, r, rng, 14, 0.45);
    fillPolygon(alpha, w, h, poly, 1);
    const edge = new Float32Array(w * h);
    strokePolyline(edge, w, h, [...poly, poly[0]!], Math.max(1.2, 0.004 * size), 1);
    const paper: [number, number, number] = [232, 228, 218];
    for (let i = 0; i < w * h; i++) {
      if (edge[i]! > 0) {
        alpha[i] = 1;
        for (let c = 0; c < 3; c++) target[3 * i + c] = 90;
      } else if (alpha[i]! > 0) for (let c = 0; c < 3; c++) target[3 * i + c] = paper[c]! - 10 * rng.next();
    }
  } else if (kind === 'dent') {
    style = 'blended';
    const c0 = inside();
    const rx = rng.range(0.08, 0.14) * size;
    const ry = rx * rng.range(0.6, 1.2);
    const amp = rng.range(55, 80);
    const dir = rng.range(0, 2 * Math.PI);
    const [ux, uy] = [Math.cos(dir), Math.sin(dir)];
    for (let y = Math.max(0, Math.floor(c0[1] - ry)); y < Math.min(h, Math.ceil(c0[1] + ry)); y++) {
      for (let x = Math.max(0, Math.floor(c0[0] - rx)); x < Math.min(w, Math.ceil(c0[0] + rx)); x++) {
        const dx = (x - c0[0]) / rx;
        const dy = (y - c0[1]) / ry;
        const d2 = dx * dx + dy * dy;
        if (d2 >= 1) continue;
        const i = y * w + x;
        const bump = (1 - d2) * (1 - d2);
        const shade = amp * bump * (dx * ux + dy * uy) * 2.2 - amp * 0.35 * bump;
        alpha[i] = 1;
        for (let c = 0; c < 3; c++) target[3 * i + c] = Math.max(0, Math.min(255, img.data[3 * i + c]! + shade));
      }
    }
  } else if (kind === 'chip') {
    style = 'pasted';
    const e = edgePoint(object, w, h, box, rng);
    const poly = jaggedPolygon(e, rng.range(0.05, 0.08) * size, rng, 7, 0.35);
    fillPolygon(alpha, w, h, poly, 1);
    for (let i = 0; i < w * h; i++) if (alpha[i]! > 0) for (let c = 0; c < 3; c++) target[3 * i + c] = object[i] ? backdrop[c]! * 0.85 + 8 * rng.next() : img.data[3 * i + c]!;
  } else if (kind === 'dirt') {
    style = 'drawn';
    const c0 = inside();
    const R = rng.range(0.1, 0.18) * size;
    const n = rng.int(60, 160);
    for (let k = 0; k < n; k++) {
      const a = rng.range(0, 2 * Math.PI);
      const rr = R * Math.sqrt(rng.next());
      disc(alpha, w, h, [c0[0] + rr * Math.cos(a), c0[1] + rr * Math.sin(a)], rng.range(1, 3.5) * Math.max(1, size / 400), rng.range(0.6, 0.95));
    }
    for (let i = 0; i < w * h; i++) for (let c = 0; c < 3; c++) target[3 * i + c] = 45 + 15 * c;
  } else {
    style = 'pasted';
    const e = edgePoint(object, w, h, box, rng);
    const poly = jaggedPolygon(e, rng.range(0.14, 0.22) * size, rng, 10, 0.3);
    fillPolygon(alpha, w, h, poly, 1);
    for (let i = 0; i < w * h; i++) if (alpha[i]! > 0) for (let c = 0; c < 3; c++) target[3 * i + c] = backdrop[c]! + 6 * (rng.next() - 0.5);
  }

  const mask = new Uint8Array(w * h);
  for (let i = 0; i < w * h; i++) {
    const a = alpha[i]!;
    if (a <= 0) continue;
    let diff = 0;
    for (let c = 0; c < 3; c++) {
      const v = out[3 * i + c]! * (1 - a) + target[3 * i + c]! * a;
      diff = Math.max(diff, Math.abs(v - out[3 * i + c]!));
      out[3 * i + c] = v;
    }
    if (diff >= 12) mask[i] = 1;
  }
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.max(0, Math.min(255, Math.round(out[i]!)));
  return { image: { data, width: w, height: h }, mask, kind, style };
}

function bbox(m: Uint8Array, w: number, h: number): { x: number; y: number; w: number; h: number } {
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (m[y * w + x]) {
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  }
  if (x1 < 0) return { x: 0, y: 0, w, h };
  return { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 };
}

function pickInside(m: Uint8Array, w: number, h: number, b: { x: number; y: number; w: number; h: number }, rng: Rng): Pt {
  for (let k = 0; k < 500; k++) {
    const x = b.x + b.w * rng.range(0.2, 0.8);
    const y = b.y + b.h * rng.range(0.2, 0.8);
    if (m[Math.floor(y) * w + Math.floor(x)]) return [x, y];
  }
  return [b.x + b.w / 2, b.y + b.h / 2];
}

/** A point on the object's outline (for chips, tears, missing pieces). */
function edgePoint(m: Uint8Array, w: number, h: number, b: { x: number; y: number; w: number; h: number }, rng: Rng): Pt {
  const c = pickInside(m, w, h, b, rng);
  const a = rng.range(0, 2 * Math.PI);
  let last: Pt = c;
  for (let r = 0; r < Math.max(w, h); r += 1) {
    const x = Math.floor(c[0] + r * Math.cos(a));
    const y = Math.floor(c[1] + r * Math.sin(a));
    if (x < 0 || y < 0 || x >= w || y >= h || !m[y * w + x]) return last;
    last = [x, y];
  }
  return last;
}

function walk(p: Pt, dir: number, len: number, step: number, rng: Rng): Pt[] {
  const pts: Pt[] = [p];
  let [x, y] = p;
  for (let d = 0; d < len; d += step) {
    dir += rng.range(-0.6, 0.6);
    x += step * Math.cos(dir);
    y += step * Math.sin(dir);
    pts.push([x, y]);
  }
  return pts;
}

function disc(a: Float32Array, w: number, h: number, [cx, cy]: Pt, r: number, v: number): void {
  for (let y = Math.max(0, Math.floor(cy - r)); y <= Math.min(h - 1, Math.ceil(cy + r)); y++) {
    for (let x = Math.max(0, Math.floor(cx - r)); x <= Math.min(w - 1, Math.ceil(cx + r)); x++) {
      if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) a[y * w + x] = Math.max(a[y * w + x]!, v);
    }
  }
}

function strokePolyline(a: Float32Array, w: number, h: number, pts: Pt[], t: number, v: number): void {
  for (let k = 1; k < pts.length; k++) {
    const [x0, y0] = pts[k - 1]!;
    const [x1, y1] = pts[k]!;
    const n = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0) / Math.max(0.5, t / 2)));
    for (let s = 0; s <= n; s++) disc(a, w, h, [x0 + ((x1 - x0) * s) / n, y0 + ((y1 - y0) * s) / n], t / 2 + 0.3, v);
  }
}

function jaggedPolygon([cx, cy]: Pt, r: number, rng: Rng, n: number, jag: number): Pt[] {
  const pts: Pt[] = [];
  for (let k = 0; k < n; k++) {
    const a = (2 * Math.PI * k) / n + rng.range(-0.2, 0.2);
    const rr = r * (1 - jag + 2 * jag * rng.next());
    pts.push([cx + rr * Math.cos(a), cy + rr * Math.sin(a)]);
  }
  return pts;
}

function fillPolygon(a: Float32Array, w: number, h: number, poly: Pt[], v: number): void {
  const ys = poly.map((p) => p[1]);
  for (let y = Math.max(0, Math.floor(Math.min(...ys))); y <= Math.min(h - 1, Math.ceil(Math.max(...ys))); y++) {
    const xs: number[] = [];
    for (let k = 0; k < poly.length; k++) {
      const [x0, y0] = poly[k]!;
      const [x1, y1] = poly[(k + 1) % poly.length]!;
      if ((y0 <= y && y1 > y) || (y1 <= y && y0 > y)) xs.push(x0 + ((y - y0) * (x1 - x0)) / (y1 - y0));
    }
    xs.sort((p, q) => p - q);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      for (let x = Math.max(0, Math.ceil(xs[k]!)); x <= Math.min(w - 1, Math.floor(xs[k + 1]!)); x++) a[y * w + x] = v;
    }
  }
}

function blob(a: Float32Array, w: number, h: number, [cx, cy]: Pt, r: number, rng: Rng, v: number): void {
  const centres: [number, number, number][] = [];
  const nc = rng.int(3, 6);
  for (let k = 0; k < nc; k++) centres.push([cx + rng.range(-0.5, 0.5) * r, cy + rng.range(-0.5, 0.5) * r, r * rng.range(0.35, 0.7)]);
  for (let y = Math.max(0, Math.floor(cy - 1.6 * r)); y < Math.min(h, Math.ceil(cy + 1.6 * r)); y++) {
    for (let x = Math.max(0, Math.floor(cx - 1.6 * r)); x < Math.min(w, Math.ceil(cx + 1.6 * r)); x++) {
      let f = 0;
      for (const [px, py, pr] of centres) f += Math.exp(-((x - px) ** 2 + (y - py) ** 2) / (2 * pr * pr));
      if (f > 0.5) a[y * w + x] = v;
    }
  }
}

async function blurInPlace(a: Float32Array, w: number, h: number, sigma: number): Promise<void> {
  const u8 = new Uint8Array(w * h);
  for (let i = 0; i < u8.length; i++) u8[i] = Math.round(a[i]! * 255);
  const { data: b, info } = await sharp(u8, { raw: { width: w, height: h, channels: 1 } })
    .blur(Math.max(0.3, sigma))
    .raw()
    .toBuffer({ resolveWithObject: true });
  // libvips may hand back more than one band for a one-band input: read the first.
  for (let i = 0; i < u8.length; i++) a[i] = b[i * info.channels]! / 255;
}
