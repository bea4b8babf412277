// Labelled JPEG files for the compression-history check (jpeg.local_edit), made at run time
// from ../shared/photos/natural. A buyer's photo is emulated by resampling an in-store photo
// (so that the dataset's own JPEG grid is gone) and saving it at quality q1; then:
//   forged        – decoded, one damage edit painted in (bench/forgery/edits.ts), saved at q2
//   resaved       – decoded and saved at q2 with no edit (a chat app or platform re-save)
//   once          – saved once only, at q2
//   chained       – the in-store photo itself (the dataset's own JPEG, grid kept) re-saved twice,
//                   at 85 and then 90 (a chat app, then a platform): three saves, no edit
// The quality pair decides whether the edit can be seen at all: the trace of the first save
// is strong when the second is finer (q2 > q1) and faint otherwise, so the set holds both.

import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { applyEdit, EDIT_KINDS, type EditKind, type Rgb } from './edits.ts';
import { Rng, hashSeed } from './random.ts';
import { backdrop, photoClasses, photoKey } from './dataset.ts';

export type JpegCaseKind = 'forged' | 'resaved' | 'once' | 'chained';

export interface JpegCase {
  id: string;
  kind: JpegCaseKind;
  q1?: number;
  q2: number;
  /** The forger's regime: second save finer than the first. */
  finerSecond: boolean;
  bytes: Buffer;
  width: number;
  height: number;
  /** 1 where the edit changed the picture (forged only). */
  mask?: Uint8Array;
  edit?: EditKind;
}

/** Quality pairs (q1, q2): the first three with a finer second save, the last two without. */
export const QUALITY_PAIRS: readonly [number, number][] = [
  [70, 90],
  [75, 95],
  [80, 92],
  [85, 90],
  [92, 85],
];

/** The emulated camera photo: an in-store photo resampled to ~720 px on its long side. */
async function basePhoto(path: string): Promise<Rgb> {
  const { data, info } = await sharp(readFileSync(path)).rotate().resize(720, 720, { fit: 'inside', kernel: 'lanczos3' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

function encode(img: Rgb, quality: number): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).jpeg({ quality }).toBuffer();
}

async function decode(jpeg: Buffer): Promise<Rgb> {
  const { data, info } = await sharp(jpeg).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

/** The object mask handed to the edit: the middle of the frame (in-store photos fill it). */
function middle(w: number, h: number): Uint8Array {
  const m = new Uint8Array(w * h);
  for (let y = Math.floor(h * 0.2); y < Math.ceil(h * 0.8); y++) m.fill(1, y * w + Math.floor(w * 0.2), y * w + Math.ceil(w * 0.8));
  return m;
}

/**
 * The sources: `perClass` in-store photos of each of the first `classes` products, from the
 * `skip`-th photo on (8 per product; the development set is photos 0–1, so `skip` 2 gives
 * photos no rule was tuned on).
 */
export function jpegSources(classes = 41, perClass = 2, skip = 0): string[] {
  return photoClasses()
    .slice(0, classes)
    .flatMap((c) => c.natural.slice(skip, skip + perClass));
}

/** Every case made from one source photo: per quality pair one forgery and one re-save, and one single save. */
export async function jpegCases(path: string): Promise<JpegCase[]> {
  const key = photoKey(path);
  const base = await basePhoto(path);
  const { width, height } = base;
  const rng = new Rng(hashSeed(`jpeg/${key}`));
  const out: JpegCase[] = [];
  for (const [q1, q2] of QUALITY_PAIRS) {
    const first = await decode(await encode(base, q1));
    const kind = rng.pick(EDIT_KINDS);
    const edit = await applyEdit(first, middle(width, height), kind, new Rng(hashSeed(`jpeg/${key}/${q1}/${q2}`)), backdrop(first));
    const finerSecond = q2 > q1;
    out.push({ id: `${key}/forged/${q1}-${q2}/${kind}`, kind: 'forged', q1, q2, finerSecond, bytes: await encode(edit.image, q2), width, height, mask: edit.mask, edit: kind });
    out.push({ id: `${key}/resaved/${q1}-${q2}`, kind: 'resaved', q1, q2, finerSecond, bytes: await encode(first, q2), width, height });
  }
  const q = rng.pick([75, 85, 90, 95]);
  out.push({ id: `${key}/once/${q}`, kind: 'once', q2: q, finerSecond: false, bytes: await encode(base, q), width, height });
  const own = readFileSync(path);
  const chained = await sharp(await sharp(own).jpeg({ quality: 85 }).toBuffer()).jpeg({ quality: 90 }).toBuffer();
  const meta = await sharp(chained).metadata();
  out.push({ id: `${key}/chained/85-90`, kind: 'chained', q1: 85, q2: 90, finerSecond: false, bytes: chained, width: meta.width!, height: meta.height! });
  return out;
}
