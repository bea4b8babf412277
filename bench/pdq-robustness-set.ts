// PDQ robustness set, generated at run time from ../shared/photos (never committed):
// every source photo (merchant listing photos and in-store phone photos) is transformed the
// ways a reused photo comes back in a claim (re-compression, resizing, cropping, rotation and
// mirroring, light colour edits, a phone screenshot of it), each result is hashed through
// intake like an upload, and the distance to the source's hash is the smallest over the 8
// dihedral variants of the claim photo (what the reuse matcher queries). Different photos
// give the negative pairs. Shared by bench/pdq-robustness.eval.ts and its fast test.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { intakeImage } from '../src/forensics/intake.ts';
import { hammingDistance, pdqHashImage, pdqRehashedVariants, type PdqResult } from '../src/forensics/pdq/index.ts';
import { screenshotRegionQueries } from '../src/forensics/reuse/query-hashes.ts';
import { SHARED } from './photos.ts';

/** PDQ's usual match threshold (upstream: ≤ 31 bits is a match). */
export const MATCH_THRESHOLD = 31;
/** Below this quality the reuse index does not use a hash ("too flat to hash"). */
export const MIN_QUALITY = 50;

export interface SourcePhoto {
  /** Path under ../shared/photos. */
  id: string;
  kind: 'listing' | 'natural';
  /** Product class (directory or file name). */
  cls: string;
  bytes: Buffer;
}

export function listSourcePhotos(): SourcePhoto[] {
  const root = join(SHARED, 'photos');
  const out: SourcePhoto[] = [];
  for (const f of readdirSync(join(root, 'listing')).filter((x) => x.endsWith('.jpg')).sort()) {
    out.push({ id: `listing/${f}`, kind: 'listing', cls: f.replace(/\.jpg$/, ''), bytes: readFileSync(join(root, 'listing', f)) });
  }
  for (const cls of readdirSync(join(root, 'natural')).sort()) {
    for (const f of readdirSync(join(root, 'natural', cls)).filter((x) => x.endsWith('.jpg')).sort()) {
      out.push({ id: `natural/${cls}/${f}`, kind: 'natural', cls, bytes: readFileSync(join(root, 'natural', cls, f)) });
    }
  }
  return out;
}

export interface Transform {
  name: string;
  group: 'jpeg' | 'resize' | 'crop' | 'dihedral' | 'colour' | 'screenshot';
  apply(src: Buffer): Promise<Buffer>;
}

const jpeg = (s: Sharp, quality = 90) => s.jpeg({ quality }).toBuffer();
const upright = (src: Buffer) => sharp(src).rotate();

async function size(src: Buffer): Promise<{ width: number; height: number }> {
  const { info } = await upright(src).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height };
}

/** Keeps (1 − p) of each side; anchored at the top-left corner, or centred. */
function crop(p: number, centred: boolean): Transform['apply'] {
  return async (src) => {
    const { width, height } = await size(src);
    const w = Math.round(width * (1 - p));
    const h = Math.round(height * (1 - p));
    const left = centred ? Math.floor((width - w) / 2) : 0;
    const top = centred ? Math.floor((height - h) / 2) : 0;
    return jpeg(upright(src).extract({ left, top, width: w, height: h }));
  };
}

/**
 * The photo as it appears in a phone screenshot: a 1080×2340 canvas with a status bar
 * (time, signal and battery), an app bar with a title, the photo at full width, a caption
 * and price lines below, and the navigation bar, saved as JPEG.
 */
async function screenshot(src: Buffer): Promise<Buffer> {
  const W = 1080;
  const H = 2340;
  const photo = await upright(src).resize({ width: W }).png().toBuffer();
  const { height: ph } = await sharp(photo).metadata() as { height: number };
  const top = 250;
  const photoH = Math.min(ph, H - top - 400);
  const ui = Buffer.from(`<svg width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg">
  <rect x="0" y="0" width="${W}" height="90" fill="#111"/>
  <text x="40" y="62" font-family="sans-serif" font-size="40" fill="#fff">12:30</text>
  <rect x="900" y="30" width="70" height="34" rx="6" fill="none" stroke="#fff" stroke-width="4"/>
  <rect x="906" y="36" width="46" height="22" fill="#fff"/>
  <rect x="820" y="40" width="12" height="24" fill="#fff"/><rect x="840" y="32" width="12" height="32" fill="#fff"/>
  <rect x="0" y="90" width="${W}" height="160" fill="#fff"/>
  <text x="120" y="190" font-family="sans-serif" font-size="52" fill="#222">商品详情</text>
  <path d="M40 170 L80 130 M40 170 L80 210" stroke="#222" stroke-width="8"/>
  <text x="40" y="${top + photoH + 110}" font-family="sans-serif" font-size="64" fill="#e4393c">¥ 39.90</text>
  <rect x="40" y="${top + photoH + 160}" width="900" height="36" fill="#ccc"/>
  <rect x="40" y="${top + photoH + 220}" width="700" height="36" fill="#ddd"/>
  <rect x="0" y="${H - 140}" width="${W}" height="140" fill="#fafafa"/>
  <rect x="120" y="${H - 100}" width="240" height="70" rx="35" fill="#ff9500"/>
  <rect x="700" y="${H - 100}" width="300" height="70" rx="35" fill="#e4393c"/>
</svg>`);
  const canvas = sharp({ create: { width: W, height: H, channels: 3, background: '#f2f2f2' } });
  const placed = ph > photoH ? await sharp(photo).extract({ left: 0, top: 0, width: W, height: photoH }).toBuffer() : photo;
  return jpeg(canvas.composite([{ input: placed, left: 0, top }, { input: ui, left: 0, top: 0 }]), 90);
}

export const TRANSFORMS: Transform[] = [
  { name: 'jpeg_q95', group: 'jpeg', apply: (s) => jpeg(upright(s), 95) },
  { name: 'jpeg_q70', group: 'jpeg', apply: (s) => jpeg(upright(s), 70) },
  { name: 'jpeg_q50', group: 'jpeg', apply: (s) => jpeg(upright(s), 50) },
  { name: 'resize_30pct', group: 'resize', apply: async (s) => jpeg(upright(s).resize({ width: Math.round((await size(s)).width * 0.3) })) },
  { name: 'upscale_200pct', group: 'resize', apply: async (s) => jpeg(upright(s).resize({ width: (await size(s)).width * 2 })) },
  { name: 'crop_2pct_centred', group: 'crop', apply: crop(0.02, true) },
  { name: 'crop_2pct_corner', group: 'crop', apply: crop(0.02, false) },
  { name: 'crop_5pct_centred', group: 'crop', apply: crop(0.05, true) },
  { name: 'crop_5pct_corner', group: 'crop', apply: crop(0.05, false) },
  { name: 'crop_10pct_centred', group: 'crop', apply: crop(0.1, true) },
  { name: 'crop_15pct_centred', group: 'crop', apply: crop(0.15, true) },
  { name: 'crop_15pct_corner', group: 'crop', apply: crop(0.15, false) },
  { name: 'rotate_90', group: 'dihedral', apply: (s) => jpeg(upright(s).rotate(90)) },
  { name: 'rotate_180', group: 'dihedral', apply: (s) => jpeg(upright(s).rotate(180)) },
  { name: 'rotate_270', group: 'dihedral', apply: (s) => jpeg(upright(s).rotate(270)) },
  { name: 'mirror', group: 'dihedral', apply: (s) => jpeg(upright(s).flop()) },
  { name: 'mirror_rotate_90', group: 'dihedral', apply: (s) => jpeg(upright(s).flop().rotate(90)) },
  { name: 'brightness_+10pct', group: 'colour', apply: (s) => jpeg(upright(s).modulate({ brightness: 1.1 })) },
  { name: 'brightness_-10pct', group: 'colour', apply: (s) => jpeg(upright(s).modulate({ brightness: 0.9 })) },
  { name: 'saturation_+30pct', group: 'colour', apply: (s) => jpeg(upright(s).modulate({ saturation: 1.3 })) },
  { name: 'hue_+20deg', group: 'colour', apply: (s) => jpeg(upright(s).modulate({ hue: 20 })) },
  { name: 'contrast_+15pct', group: 'colour', apply: (s) => jpeg(upright(s).linear(1.15, -0.15 * 128)) },
  { name: 'warm_filter', group: 'colour', apply: (s) => jpeg(upright(s).recomb([[1.06, 0, 0], [0, 1.0, 0], [0, 0, 0.9]])) },
  { name: 'screenshot_frame', group: 'screenshot', apply: screenshot },
];

interface Hashed {
  pdq: PdqResult;
  /** The 8 orientations hashed anew from moved pixels (pdqRehashedVariants). */
  rehashed: string[];
  /** For a phone screenshot: the hashes of the photo regions found inside it (8 variants each). */
  regions: string[];
}

async function hashBytes(bytes: Buffer, name: string, rehash: boolean): Promise<Hashed> {
  const image = await intakeImage(bytes, { name });
  const pdq = await pdqHashImage(image, { dihedral: true });
  const regions = (await screenshotRegionQueries(image)).flatMap((r) => r.hashes);
  return { pdq, rehashed: rehash ? (await pdqRehashedVariants(image)).dihedral! : [], regions };
}

/** Smallest distance from any dihedral variant of `query` to `stored`: the matcher's rule. */
export function matchDistance(query: PdqResult, stored: string): number {
  let best = 256;
  for (const h of query.dihedral ?? [query.hash]) best = Math.min(best, hammingDistance(h, stored));
  return best;
}

/** The same over the reference's 8 DCT variants and the 8 re-hashed orientations (16 queries). */
function matchDistanceWithRehash(query: Hashed, stored: string): number {
  let best = matchDistance(query.pdq, stored);
  for (const h of query.rehashed) best = Math.min(best, hammingDistance(h, stored));
  return best;
}

/** What the reuse matcher queries: the above and, for a screenshot, the photo regions inside it. */
function matcherDistance(query: Hashed, stored: string): number {
  let best = matchDistanceWithRehash(query, stored);
  for (const h of query.regions) best = Math.min(best, hammingDistance(h, stored));
  return best;
}

export interface PositivePair {
  source: string;
  transform: string;
  group: Transform['group'];
  /** Min over the reference's 8 DCT dihedral variants of the claim photo. */
  distance: number;
  /** Min over those and the 8 re-hashed orientations (re-hashed for the dihedral group only). */
  distanceRehash: number;
  /** Min over everything the reuse matcher queries (the above plus screenshot regions). */
  distanceMatcher: number;
  quality: number;
  sourceQuality: number;
}
export interface NegativePair { a: string; b: string; relation: 'same_class_natural' | 'listing_vs_natural_same_class' | 'different_class' | 'screenshot_vs_other_photo'; distance: number; distanceRehash: number; distanceMatcher: number }

export interface RobustnessData {
  sources: Array<{ id: string; quality: number }>;
  positives: PositivePair[];
  negatives: NegativePair[];
}

/** Hashes the sources and their transforms and measures the pairs. */
export async function measureRobustness(sources: SourcePhoto[], transforms: Transform[] = TRANSFORMS, onProgress?: (done: number) => void): Promise<RobustnessData> {
  const hashed: Array<{ src: SourcePhoto; h: Hashed }> = [];
  const positives: PositivePair[] = [];
  const screenshots: Array<{ src: SourcePhoto; q: Hashed }> = [];
  let done = 0;
  for (const src of sources) {
    const h = await hashBytes(src.bytes, src.id, true);
    const pdq = h.pdq;
    hashed.push({ src, h });
    for (const t of transforms) {
      const out = await t.apply(src.bytes);
      // Re-hashed orientations only matter for turned photos; elsewhere the 8 DCT variants
      // alone are used (a conservative figure for the 16-query rule, and much faster).
      const q = await hashBytes(out, `${src.id}.${t.name}.jpg`, t.group === 'dihedral');
      if (t.group === 'screenshot') screenshots.push({ src, q });
      positives.push({
        source: src.id, transform: t.name, group: t.group,
        distance: matchDistance(q.pdq, pdq.hash), distanceRehash: matchDistanceWithRehash(q, pdq.hash), distanceMatcher: matcherDistance(q, pdq.hash),
        quality: q.pdq.quality, sourceQuality: pdq.quality,
      });
    }
    onProgress?.(++done);
  }
  const negatives: NegativePair[] = [];
  for (let i = 0; i < hashed.length; i++) {
    for (let j = i + 1; j < hashed.length; j++) {
      const a = hashed[i]!;
      const b = hashed[j]!;
      const relation: NegativePair['relation'] = a.src.cls !== b.src.cls
        ? 'different_class'
        : a.src.kind === 'natural' && b.src.kind === 'natural' ? 'same_class_natural' : 'listing_vs_natural_same_class';
      // Both directions are queries in practice; the matcher's rule is symmetric enough to take the smaller.
      negatives.push({
        a: a.src.id, b: b.src.id, relation,
        distance: Math.min(matchDistance(a.h.pdq, b.h.pdq.hash), matchDistance(b.h.pdq, a.h.pdq.hash)),
        distanceRehash: Math.min(matchDistanceWithRehash(a.h, b.h.pdq.hash), matchDistanceWithRehash(b.h, a.h.pdq.hash)),
        distanceMatcher: Math.min(matcherDistance(a.h, b.h.pdq.hash), matcherDistance(b.h, a.h.pdq.hash)),
      });
    }
  }
  // A screenshot of one photo against every other product's photo: what the screenshot
  // region queries could wrongly match (same-class photos left out, as above).
  for (const { src, q } of screenshots) {
    for (const other of hashed) {
      if (other.src.cls === src.cls) continue;
      const d = matchDistance(q.pdq, other.h.pdq.hash);
      negatives.push({ a: `${src.id} (screenshot)`, b: other.src.id, relation: 'screenshot_vs_other_photo', distance: d, distanceRehash: d, distanceMatcher: matcherDistance(q, other.h.pdq.hash) });
    }
  }
  return { sources: hashed.map((x) => ({ id: x.src.id, quality: x.h.pdq.quality })), positives, negatives };
}

export interface Rates { tpr: number; fpr: number; positives: number; negatives: number }

/** TPR/FPR at `threshold` (match = distance ≤ threshold). */
export function ratesAt(pos: number[], neg: number[], threshold: number): Rates {
  const tp = pos.filter((d) => d <= threshold).length;
  const fp = neg.filter((d) => d <= threshold).length;
  return { tpr: pos.length ? tp / pos.length : NaN, fpr: neg.length ? fp / neg.length : NaN, positives: pos.length, negatives: neg.length };
}

/** The threshold with the fewest errors (false negatives + false positives, FPs weighted ×10). */
export function bestThreshold(pos: number[], neg: number[]): { threshold: number } & Rates {
  let best = { threshold: 0, cost: Infinity };
  for (let t = 0; t <= 128; t++) {
    const r = ratesAt(pos, neg, t);
    const cost = (1 - r.tpr) * pos.length + 10 * r.fpr * neg.length;
    if (cost < best.cost) best = { threshold: t, cost };
  }
  return { threshold: best.threshold, ...ratesAt(pos, neg, best.threshold) };
}

export function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

export function distribution(xs: number[]): string {
  if (xs.length === 0) return 'n=0';
  return `n=${xs.length} min ${quantile(xs, 0)} p50 ${quantile(xs, 0.5)} p90 ${quantile(xs, 0.9)} p99 ${quantile(xs, 0.99)} max ${quantile(xs, 1)}`;
}
