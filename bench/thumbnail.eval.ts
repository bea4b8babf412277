// `npm run eval`: EXIF thumbnail check on a set made at run time from ../shared/photos
// (in-store photos of 41 products, 8 each). For each source photo we write camera-like
// JPEGs with the hand-written EXIF writer of the tests:
//   genuine     — the thumbnail is the photo itself (stretched to 160×120, as cameras do)
//   letterbox   — the photo's thumbnail with black bands (a 4:3 frame around a 3:2 shot)
//   cropped     — the main picture is a crop of the photo, the thumbnail the whole photo
//   swap_other  — the thumbnail of a photo of ANOTHER product
//   swap_same   — the thumbnail of another photo of the SAME product (the hard case)
// and report how often exif.thumbnail_mismatch says what it should, and how often it
// falsely accuses (tampered on genuine / letterbox / cropped).

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { exifThumbnailDetector } from '../src/forensics/detectors/exif-thumbnail.ts';
import { intakeImage } from '../src/forensics/intake.ts';
import type { Signal } from '../src/forensics/types.ts';
import { TAG, ascii, jpegWithExif } from '../test/helpers/labels.ts';
import { SHARED } from '../test/helpers/shared.ts';

const PER_CLASS = 4; // 41 × 4 = 164 sources keeps the run around a minute

interface Source {
  cls: string;
  main: Buffer; // ≤ 1600 px JPEG without metadata
  thumb: Buffer; // 160×120 camera-like thumbnail of the same photo
}

async function loadSources(): Promise<Source[]> {
  const root = join(SHARED, 'photos', 'natural');
  const out: Source[] = [];
  for (const cls of readdirSync(root).sort()) {
    const files = readdirSync(join(root, cls)).filter((f) => f.endsWith('.jpg')).sort().slice(0, PER_CLASS);
    for (const f of files) {
      const img = sharp(readFileSync(join(root, cls, f))).rotate().resize(1600, 1600, { fit: 'inside', withoutEnlargement: true });
      const main = await img.clone().jpeg({ quality: 90 }).toBuffer();
      const thumb = await sharp(main).resize(160, 120, { fit: 'fill' }).jpeg({ quality: 75 }).toBuffer();
      out.push({ cls, main, thumb });
    }
  }
  return out;
}

function camera(main: Buffer, thumbnail: Buffer): Buffer {
  return jpegWithExif(main, { ifd0: { [TAG.Make]: ascii('EvalCam'), [TAG.Model]: ascii('E-1') }, thumbnail });
}

async function outcome(bytes: Buffer): Promise<{ verdict: string; outcome: string; similarity?: number; crop?: number; ms: number }> {
  const image = await intakeImage(bytes, { name: 'eval.jpg' });
  const t = performance.now();
  const s: Signal | undefined = (await exifThumbnailDetector.run(image, {}))[0];
  const ms = performance.now() - t;
  if (!s) return { verdict: 'none', outcome: 'match', ms };
  const crop = (s.evidence['crop'] as { similarity: number } | undefined)?.similarity ?? (s.evidence['cropSearchSimilarity'] as number | undefined);
  return { verdict: s.verdict, outcome: String(s.evidence['outcome']), similarity: s.evidence['similarity'] as number, crop, ms };
}

export default async function (): Promise<Record<string, number>> {
  const t0 = performance.now();
  const sources = await loadSources();
  const tally: Record<string, Record<string, number>> = {};
  const add = (kind: string, key: string) => {
    tally[kind] ??= {};
    tally[kind]![key] = (tally[kind]![key] ?? 0) + 1;
  };
  const sims: Record<string, number[]> = {};
  const crops: Record<string, number[]> = {};
  const times: Record<string, number[]> = {};
  let rng = 12345;
  const next = () => (rng = (rng * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let i = 0; i < sources.length; i++) {
    const s = sources[i]!;
    const meta = await sharp(s.main).metadata();
    const w = meta.width!, h = meta.height!;
    // letterbox: the photo centre-cropped to 3:2, shown inside a 4:3 thumbnail with bands
    const wide = await sharp(s.main).resize(w, Math.round(w / 1.5), { fit: 'cover' }).jpeg({ quality: 90 }).toBuffer();
    const inner = await sharp(wide).resize(160, 107, { fit: 'fill' }).png().toBuffer();
    const boxed = await sharp({ create: { width: 160, height: 120, channels: 3, background: { r: 0, g: 0, b: 0 } } })
      .composite([{ input: inner, top: 6, left: 0 }])
      .jpeg({ quality: 75 })
      .toBuffer();
    const crop = await sharp(s.main)
      .extract({ left: Math.round(w * 0.2), top: Math.round(h * 0.15), width: Math.round(w * 0.6), height: Math.round(h * 0.6) })
      .jpeg({ quality: 90 })
      .toBuffer();
    const others = sources.filter((o) => o.cls !== s.cls);
    const same = sources.filter((o, j) => o.cls === s.cls && j !== i);
    const cases: [string, Buffer][] = [
      ['genuine', camera(s.main, s.thumb)],
      ['letterbox', camera(wide, boxed)],
      ['cropped', camera(crop, s.thumb)],
      ['swap_other', camera(s.main, others[Math.floor(next() * others.length)]!.thumb)],
    ];
    if (same.length) cases.push(['swap_same', camera(s.main, same[Math.floor(next() * same.length)]!.thumb)]);
    for (const [kind, bytes] of cases) {
      const o = await outcome(bytes);
      (sims[kind] ??= []).push(o.similarity ?? 1);
      if (o.crop !== undefined) (crops[kind] ??= []).push(o.crop);
      (times[kind] ??= []).push(o.ms);
      add(kind, 'n');
      add(kind, o.verdict);
      add(kind, `outcome:${o.outcome}`);
    }
  }
  const rate = (kind: string, key: string) => (tally[kind]?.[key] ?? 0) / (tally[kind]?.['n'] ?? 1);
  console.log(`${sources.length} source photos in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  for (const [kind, t] of Object.entries(tally)) {
    const parts = Object.entries(t).filter(([k]) => k !== 'n').map(([k, v]) => `${k}=${v}`).join(' ');
    console.log(`  ${kind.padEnd(11)} n=${t['n']}  ${parts}`);
  }
  const figures = {
    thumbnail_genuine_silent: rate('genuine', 'none'),
    thumbnail_letterbox_silent: rate('letterbox', 'none'),
    thumbnail_false_tampered: (['genuine', 'letterbox', 'cropped'] as const).reduce((a, k) => a + (tally[k]?.['tampered'] ?? 0), 0) /
      (['genuine', 'letterbox', 'cropped'] as const).reduce((a, k) => a + (tally[k]?.['n'] ?? 0), 0),
    thumbnail_crop_recognised: rate('cropped', 'outcome:cropped'),
    thumbnail_swap_other_tampered: rate('swap_other', 'tampered'),
    thumbnail_swap_other_flagged: 1 - rate('swap_other', 'none'),
    thumbnail_swap_same_tampered: rate('swap_same', 'tampered'),
    thumbnail_swap_same_flagged: 1 - rate('swap_same', 'none'),
  };
  const q = (xs: number[] | undefined, f: (a: number[]) => number) => (xs?.length ? f([...xs].sort((a, b) => a - b)).toFixed(3) : '-');
  const median = (a: number[]) => a[Math.floor(a.length / 2)]!;
  console.log('  similarity of thumbnail and main (1 = silent) — min / median / max; crop search best — min / max; detector ms median / max');
  for (const kind of Object.keys(tally)) {
    console.log(
      `  ${kind.padEnd(11)} ${q(sims[kind], (a) => a[0]!)} / ${q(sims[kind], median)} / ${q(sims[kind], (a) => a[a.length - 1]!)}` +
        `   crop ${q(crops[kind], (a) => a[0]!)} / ${q(crops[kind], (a) => a[a.length - 1]!)}   ${q(times[kind], median)} / ${q(times[kind], (a) => a[a.length - 1]!)} ms`,
    );
  }
  for (const [k, v] of Object.entries(figures)) console.log(`  ${k.padEnd(32)} ${(100 * v).toFixed(1)}%`);
  return Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, Math.round(v * 1000) / 1000]));
}
