// `npm run eval jpeg`: the compression-history check (jpeg.local_edit, jpeg.recompressed) on
// the labelled set of bench/forgery/jpeg-set.ts, plus the camera photos of ../shared/fixtures
// as they are and re-saved once (aligned, no edit).
// Prints, per quality pair: how often a forgery is found with a box on the edit (TPR), how
// often an unedited re-save or a single save is accused (FPR), mean box IoU, and how often
// jpeg.recompressed names a re-save.
// JPEG_EVAL_CLASSES=n and JPEG_EVAL_PER_CLASS=k size the set (default 41 × 2 sources);
// JPEG_EVAL_SKIP=s starts at each product's s-th photo (2 and up: photos held out from tuning).

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { jpegCompressionDetector } from '../src/forensics/detectors/jpeg-compression.ts';
import { intakeImage } from '../src/forensics/intake.ts';
import type { Signal } from '../src/forensics/types.ts';
import { SHARED } from '../test/helpers/shared.ts';
import { boxIoU, overlapsMask } from './forgery/dataset.ts';
import { jpegCases, jpegSources } from './forgery/jpeg-set.ts';

interface Row {
  n: number;
  local: number;
  hit: number;
  ious: number[];
  recompressed: number;
}
const rows = new Map<string, Row>();
const row = (k: string): Row => {
  let r = rows.get(k);
  if (!r) rows.set(k, (r = { n: 0, local: 0, hit: 0, ious: [], recompressed: 0 }));
  return r;
};

async function signalsOf(bytes: Uint8Array): Promise<Signal[]> {
  const img = await intakeImage(bytes);
  return jpegCompressionDetector.run(img, {});
}

const pct = (a: number, b: number) => (b ? (100 * a) / b : 0);

export default async function run(): Promise<Record<string, number>> {
  const classes = Number(process.env.JPEG_EVAL_CLASSES ?? 41);
  const perClass = Number(process.env.JPEG_EVAL_PER_CLASS ?? 2);
  const sources = jpegSources(classes, perClass, Number(process.env.JPEG_EVAL_SKIP ?? 0));
  const t0 = performance.now();
  const falseAlarms: string[] = [];
  /** per edit kind, forgeries with a finer second save: [found, all] */
  const byEdit = new Map<string, [number, number]>();
  for (const path of sources) {
    for (const c of await jpegCases(path)) {
      const signals = await signalsOf(c.bytes);
      const local = signals.find((s) => s.id === 'jpeg.local_edit');
      const group = c.kind === 'once' ? 'once' : c.kind === 'chained' ? 'chained (own grid) →85→90' : `${c.kind} ${c.q1}→${c.q2}`;
      const r = row(group);
      r.n++;
      if (signals.some((s) => s.id === 'jpeg.recompressed')) r.recompressed++;
      if (c.kind === 'forged' && c.finerSecond) {
        const e = byEdit.get(c.edit!) ?? [0, 0];
        e[1]++;
        if (local && overlapsMask(local.evidence.regions ?? [], c.mask!, c.width)) e[0]++;
        byEdit.set(c.edit!, e);
      }
      if (local) {
        r.local++;
        const regions = local.evidence.regions ?? [];
        if (c.mask) {
          if (overlapsMask(regions, c.mask, c.width)) r.hit++;
          r.ious.push(boxIoU(regions, c.mask, c.width, c.height));
        } else falseAlarms.push(`${c.id} (score ${local.score})`);
      } else if (c.mask) r.ious.push(0);
    }
  }
  // real camera photos: as they are (saved once by the camera) and re-saved once at quality 90
  const cameraDir = join(SHARED, 'fixtures', 'camera');
  for (const f of readdirSync(cameraDir).filter((x) => x.endsWith('.jpg')).sort()) {
    const bytes = readFileSync(join(cameraDir, f));
    for (const [group, b] of [
      ['camera original', bytes],
      ['camera re-saved q90', await sharp(bytes).jpeg({ quality: 90 }).withMetadata().toBuffer()],
    ] as const) {
      const signals = await signalsOf(b);
      const r = row(group);
      r.n++;
      if (signals.some((s) => s.id === 'jpeg.recompressed')) r.recompressed++;
      if (signals.some((s) => s.id === 'jpeg.local_edit')) {
        r.local++;
        falseAlarms.push(`${group}: ${f}`);
      }
    }
  }
  const ms = performance.now() - t0;
  console.log('group                     n   local-edit  on the edit  mean IoU  recompressed');
  for (const [k, r] of [...rows].sort(([a], [b]) => a.localeCompare(b))) {
    const iou = r.ious.length ? r.ious.reduce((s, x) => s + x, 0) / r.ious.length : NaN;
    console.log(
      `${k.padEnd(24)} ${String(r.n).padStart(3)}  ${pct(r.local, r.n).toFixed(1).padStart(9)} %  ${r.ious.length ? `${pct(r.hit, r.n).toFixed(1).padStart(9)} %` : '          -'}  ${Number.isNaN(iou) ? '       -' : iou.toFixed(3).padStart(8)}  ${pct(r.recompressed, r.n).toFixed(1).padStart(10)} %`,
    );
  }
  console.log(`found per edit kind (second save finer): ${[...byEdit].sort().map(([k, [f, n]]) => `${k} ${f}/${n}`).join(', ')}`);
  if (falseAlarms.length) console.log(`false alarms:\n  ${falseAlarms.join('\n  ')}`);
  const sum = (pred: (k: string) => boolean, f: (r: Row) => number) => [...rows].filter(([k]) => pred(k)).reduce((s, [, r]) => s + f(r), 0);
  const finer = (k: string) => k.startsWith('forged') && isFiner(k);
  const coarser = (k: string) => k.startsWith('forged') && !isFiner(k);
  const ious = [...rows].filter(([k]) => finer(k)).flatMap(([, r]) => r.ious);
  const figures: Record<string, number> = {
    jpeg_local_tpr: pct(sum(finer, (r) => r.hit), sum(finer, (r) => r.n)) / 100,
    jpeg_local_tpr_coarser_second: pct(sum(coarser, (r) => r.hit), sum(coarser, (r) => r.n)) / 100,
    jpeg_local_iou: ious.length ? ious.reduce((s, x) => s + x, 0) / ious.length : 0,
    jpeg_local_fpr_resaved: pct(sum((k) => k.startsWith('resaved'), (r) => r.local), sum((k) => k.startsWith('resaved'), (r) => r.n)) / 100,
    jpeg_local_fpr_once: pct(sum((k) => k === 'once', (r) => r.local), sum((k) => k === 'once', (r) => r.n)) / 100,
    jpeg_local_fpr_three_saves: pct(sum((k) => k.startsWith('chained'), (r) => r.local), sum((k) => k.startsWith('chained'), (r) => r.n)) / 100,
    jpeg_local_fpr_camera: pct(sum((k) => k.startsWith('camera'), (r) => r.local), sum((k) => k.startsWith('camera'), (r) => r.n)) / 100,
    jpeg_recompressed_tpr_finer: pct(sum((k) => k.startsWith('resaved') && isFiner(k), (r) => r.recompressed), sum((k) => k.startsWith('resaved') && isFiner(k), (r) => r.n)) / 100,
    jpeg_recompressed_fpr_once: pct(sum((k) => k === 'once' || k === 'camera original', (r) => r.recompressed), sum((k) => k === 'once' || k === 'camera original', (r) => r.n)) / 100,
  };
  // per quality pair, for the forgeries: found with a box on the edit
  const perPair: Record<string, number> = {};
  for (const [k, r] of rows) {
    const m = /^forged (\d+)→(\d+)$/.exec(k);
    if (m) perPair[`jpeg_local_tpr_q${m[1]}_q${m[2]}`] = r.hit / r.n;
  }
  Object.assign(figures, perPair);
  const rounded = Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, Math.round(v * 1000) / 1000]));
  console.log(`${sources.length} sources, ${(ms / 1000).toFixed(1)} s`);
  console.log(rounded);
  return rounded;
}

function isFiner(group: string): boolean {
  const m = /(\d+)→(\d+)/.exec(group);
  return !!m && Number(m[2]) > Number(m[1]);
}
