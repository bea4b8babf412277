// Labelled sets for the reference check, generated in code from ../shared/photos at run
// time: forgeries (a reference photo, realistically upscaled, with one local damage edit,
// then put through one forger's transformation) with their true edit masks, and genuine
// counterparts (independent photos of the same product, photos of other products).

import { readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import sharp from 'sharp';
import { objectMask } from '../../src/forensics/reference/residual.ts';
import { luma } from '../../src/forensics/reference/working.ts';
import { SHARED } from '../photos.ts';
import { EDIT_KINDS, applyEdit, type EditKind, type Rgb } from './edits.ts';
import { Rng, hashSeed } from './random.ts';
import { TRANSFORMS, applyTransform, type TransformName } from './transforms.ts';

export const PHOTOS = join(SHARED, 'photos');

export interface PhotoClass {
  name: string;
  listing: string;
  natural: string[];
}

/** One reference of the labelled set, the forgeries made from it and its pure copies. */
export interface ForgeryPlan {
  refPath: string;
  refKind: 'listing' | 'natural';
  cases: { kind: EditKind; transform: TransformName; id: string }[];
  /**
   * Pure copies: the same upscaled reference put through each transformation with no edit
   * (negatives: the right answer is `reuse.reference_copy`, never `reference.derived`).
   */
  copies: { transform: TransformName; id: string }[];
}

/**
 * The labelled forgeries of one class (`npm run eval reference` and its diagnostics): made from
 * the listing photo, and for every third class also from its first in-store photo; one per
 * transformation, the edit kind rotating with class index and transformation.
 */
export function forgeryPlan(c: PhotoClass, classIndex: number): ForgeryPlan[] {
  const refs: [string, 'listing' | 'natural'][] = [[c.listing, 'listing']];
  if (classIndex % 3 === 0) refs.push([c.natural[0]!, 'natural']);
  return refs.map(([refPath, refKind]) => ({
    refPath,
    refKind,
    cases: TRANSFORMS.map((transform, ti) => {
      const kind = EDIT_KINDS[(classIndex + ti) % EDIT_KINDS.length]!;
      return { kind, transform, id: `${c.name}/${refKind}/${kind}/${transform}` };
    }),
    copies: TRANSFORMS.map((transform) => ({ transform, id: `${c.name}/${refKind}/copy/${transform}` })),
  }));
}

export function photoClasses(): PhotoClass[] {
  const m = JSON.parse(readFileSync(join(PHOTOS, 'manifest.json'), 'utf8')) as {
    classes: { class: string; listing: string; natural: { file: string }[] }[];
  };
  return m.classes.map((c) => ({ name: c.class, listing: join(PHOTOS, c.listing), natural: c.natural.map((n) => join(PHOTOS, n.file)) }));
}

export interface ForgeryCase {
  id: string;
  label: 'derived';
  referencePath: string;
  referenceKind: 'listing' | 'natural';
  kind: EditKind;
  style: string;
  transform: TransformName;
  claim: Buffer;
  mask: Uint8Array;
  width: number;
  height: number;
  /** Claim pixels the edit changed by at least `VISIBLE_EDIT.levels` (see there). */
  visiblePixels: number;
  /** How many times the edit was drawn again because the claim did not show it (0 = first draw). */
  redrawn: number;
}

export async function decodeRgb(path: string): Promise<Rgb> {
  const { data, info } = await sharp(readFileSync(path)).rotate().removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

/**
 * The forger's starting point: the reference upscaled the way image tools do it (Lanczos
 * to about 800–900 px, a touch of sharpening), since listing photos are only 198 px.
 */
export async function upscaledBase(path: string): Promise<Rgb> {
  const src = await decodeRgb(path);
  const k = 860 / Math.max(src.width, src.height);
  const w = Math.round(src.width * k);
  const h = Math.round(src.height * k);
  const data = await sharp(src.data, { raw: { width: src.width, height: src.height, channels: 3 } })
    .resize(w, h, { kernel: 'lanczos3' })
    .sharpen({ sigma: 0.8 })
    .raw()
    .toBuffer();
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: w, height: h };
}

/** The backdrop colour: the median of the top and bottom rows, channel by channel. */
export function backdrop(img: Rgb): [number, number, number] {
  const vals: number[][] = [[], [], []];
  const { width: w, height: h, data } = img;
  for (let x = 0; x < w; x++) for (const y of [0, h - 1]) for (let c = 0; c < 3; c++) vals[c]!.push(data[3 * (y * w + x) + c]!);
  return vals.map((a) => a.sort((p, q) => p - q)[a.length >> 1]!) as [number, number, number];
}

/**
 * When an edit counts as a forgery: the claim must show it. At least `pixels` claim pixels
 * differ by at least `levels` (in any channel) from the same picture made without the edit
 * (same transformation, same random draws). An edit can vanish: a chip drawn where the outline
 * meets a backdrop of the same colour changes nothing, and shrinking to 25 % averages a faint
 * one away (a white chip on a white carton top: one pixel of the 215 px claim changed by 16,
 * none by 24). Such a case is no forgery a reviewer or a detector could see; it is drawn again
 * with the next seed (`${seedKey}#1`, …). On the whole eval set (660 forgeries) the two
 * vanished edits changed 0 and 1 pixels by 16 levels; the least visible kept edit changes 399.
 */
export const VISIBLE_EDIT = { levels: 16, pixels: 10, attempts: 4 };

export async function makeForgery(
  referencePath: string,
  referenceKind: 'listing' | 'natural',
  kind: EditKind,
  transform: TransformName,
  seedKey: string,
): Promise<ForgeryCase> {
  const base = await upscaledBase(referencePath);
  const object = objectMask({ rgb: base.data, gray: luma(base.data, base.width * base.height), width: base.width, height: base.height, scale: 1 });
  const plain = backdrop(base);
  let last: ForgeryCase | undefined;
  for (let attempt = 0; attempt < VISIBLE_EDIT.attempts; attempt++) {
    const rng = new Rng(hashSeed(attempt ? `${seedKey}#${attempt}` : seedKey));
    const edit = await applyEdit(base, object, kind, rng, plain);
    const twinRng = rng.clone();
    const claim = await applyTransform(edit.image, edit.mask, transform, rng);
    const twin = await applyTransform(base, edit.mask, transform, twinRng);
    const visiblePixels = await changedPixels(claim.bytes, twin.bytes, VISIBLE_EDIT.levels);
    last = {
      id: seedKey,
      label: 'derived',
      referencePath,
      referenceKind,
      kind,
      style: edit.style,
      transform,
      claim: claim.bytes,
      mask: claim.mask,
      width: claim.width,
      height: claim.height,
      visiblePixels,
      redrawn: attempt,
    };
    if (visiblePixels >= VISIBLE_EDIT.pixels) break;
  }
  return last!;
}

/** Pixels of two same-sized pictures that differ by at least `levels` in some channel. */
async function changedPixels(a: Buffer, b: Buffer, levels: number): Promise<number> {
  const [x, y] = await Promise.all([a, b].map((j) => sharp(j).removeAlpha().raw().toBuffer()));
  let n = 0;
  for (let i = 0; i < x!.length; i += 3) {
    if (Math.abs(x![i]! - y![i]!) >= levels || Math.abs(x![i + 1]! - y![i + 1]!) >= levels || Math.abs(x![i + 2]! - y![i + 2]!) >= levels) n++;
  }
  return n;
}

/**
 * A pure copy: the forger's starting point (the reference, upscaled) put through one
 * transformation with no edit. Seeded by reference and transformation, so the eval, the
 * dump and the diagnostics make the same file.
 */
export async function makeCopy(referencePath: string, transform: TransformName): Promise<Buffer> {
  const base = await upscaledBase(referencePath);
  // Seeded by the photo's path inside ../shared/photos, not its absolute path: the same copy
  // wherever the checkout lives (an absolute path made a clean clone's set differ).
  const claim = await applyTransform(base, new Uint8Array(base.width * base.height), transform, new Rng(hashSeed(`copy/${photoKey(referencePath)}/${transform}`)));
  return claim.bytes;
}

/**
 * A photo's name inside ../shared/photos ('Banana/listing.jpg'), for seeding: the generated set
 * must not depend on where the checkout lives (an absolute path made a clean clone's set differ).
 */
export function photoKey(path: string): string {
  return relative(PHOTOS, path).split(sep).join('/');
}

/** A genuine photo re-encoded the way a phone app uploads it. */
export async function genuineClaim(path: string, seedKey: string): Promise<Buffer> {
  const rng = new Rng(hashSeed(seedKey));
  return sharp(readFileSync(path)).rotate().jpeg({ quality: rng.int(70, 92) }).toBuffer();
}

/** Bounding boxes of the mask's connected parts, as a raster (for box-level IoU). */
export function maskBoxes(mask: Uint8Array, w: number, h: number, reach = Math.max(2, Math.round(0.02 * Math.max(w, h)))): Uint8Array {
  const lab = new Int32Array(w * h);
  const out = new Uint8Array(w * h);
  let next = 0;
  const stack: number[] = [];
  for (let i = 0; i < w * h; i++) {
    if (!mask[i] || lab[i]) continue;
    next++;
    let x0 = w, y0 = h, x1 = -1, y1 = -1, area = 0;
    stack.push(i);
    lab[i] = next;
    while (stack.length) {
      const p = stack.pop()!;
      const x = p % w, y = (p - x) / w;
      area++;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      // parts closer than `reach` (2 % of the frame, as the detector merges its boxes) form
      // one edit: dirt specks, crack pieces
      for (let dy = -reach; dy <= reach; dy += Math.max(1, reach >> 2)) for (let dx = -reach; dx <= reach; dx += Math.max(1, reach >> 2)) {
        const nx = x + dx, ny = y + dy;
        if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
        const q = ny * w + nx;
        if (mask[q] && !lab[q]) {
          lab[q] = next;
          stack.push(q);
        }
      }
    }
    if (area < 4) continue;
    for (let y = y0; y <= y1; y++) out.fill(1, y * w + x0, y * w + x1 + 1);
  }
  return out;
}

/** IoU of the union of reported boxes with the union of the true edit's part boxes. */
export function boxIoU(regions: { x: number; y: number; width: number; height: number }[], mask: Uint8Array, w: number, h: number): number {
  const truth = maskBoxes(mask, w, h);
  const pred = new Uint8Array(w * h);
  for (const r of regions) {
    for (let y = Math.max(0, r.y); y < Math.min(h, r.y + r.height); y++) pred.fill(1, y * w + Math.max(0, r.x), y * w + Math.min(w, r.x + r.width));
  }
  let inter = 0, uni = 0;
  for (let i = 0; i < w * h; i++) {
    if (pred[i] && truth[i]) inter++;
    if (pred[i] || truth[i]) uni++;
  }
  return uni ? inter / uni : 0;
}

/** Whether any reported box touches the true edit. */
export function overlapsMask(regions: { x: number; y: number; width: number; height: number }[], mask: Uint8Array, w: number): boolean {
  for (const r of regions) {
    for (let y = r.y; y < r.y + r.height; y++) for (let x = r.x; x < r.x + r.width; x++) if (mask[y * w + x]) return true;
  }
  return false;
}
