// `npm run eval reference`: detection quality of the reference check (reference.derived) on
// a labelled set generated from ../shared/photos at run time (bench/forgery/*):
//   forgeries  – a reference (listing photo, or a natural photo used as the reference),
//                upscaled, one local damage edit, then one forger's transformation;
//   genuine    – independent photos of the same product (listing vs in-store photo, and
//                in-store photos of the same shelf shot seconds apart), photos of other
//                products; untransformed and put through the same transformations.
// Prints per transformation: TPR, FPR, mean box IoU of the reported regions with the true
// edit (boxes of the mask's parts, parts closer than 2 % of the frame grouped).
// REFERENCE_EVAL_CLASSES=n limits the classes (default: all 41).

import { readFileSync } from 'node:fs';
import { intakeImage } from '../src/forensics/intake.ts';
import { referenceDetector } from '../src/forensics/detectors/reference.ts';
import type { ReferenceMedia, Signal } from '../src/forensics/types.ts';
import { boxIoU, decodeRgb, forgeryPlan, genuineClaim, makeForgery, overlapsMask, photoClasses } from './forgery/dataset.ts';
import { Rng, hashSeed } from './forgery/random.ts';
import { TRANSFORMS, applyTransform, type TransformName } from './forgery/transforms.ts';

interface Tally {
  pos: number;
  tp: number;
  ious: number[];
  overlaps: number;
  neg: number;
  fp: number;
  copyOnGenuine: number;
}

const tally = new Map<string, Tally>();
const t = (k: string): Tally => {
  let v = tally.get(k);
  if (!v) tally.set(k, (v = { pos: 0, tp: 0, ious: [], overlaps: 0, neg: 0, fp: 0, copyOnGenuine: 0 }));
  return v;
};

async function check(claim: Buffer, refPath: string, refId: string): Promise<Signal[]> {
  const image = await intakeImage(claim, { name: 'claim.jpg' });
  const ref: ReferenceMedia = { id: refId, kind: 'listing', image: await intakeImage(readFileSync(refPath), { name: refId }) };
  return referenceDetector.run(image, { references: [ref] });
}

export default async function referenceEval(): Promise<Record<string, number>> {
  const limit = Number(process.env.REFERENCE_EVAL_CLASSES ?? 41);
  const classes = photoClasses().slice(0, limit);
  const t0 = performance.now();
  const missed: string[] = [];
  const falsePos: string[] = [];
  const kindTally = new Map<string, { n: number; tp: number }>();

  // forgeries: every class from its listing photo, every third class from a natural photo
  for (const [ci, c] of classes.entries()) {
    for (const { refPath, refKind, cases } of forgeryPlan(c, ci)) {
      for (const { kind, transform: tr, id } of cases) {
        const fc = await makeForgery(refPath, refKind, kind, tr, id);
        const signals = await check(fc.claim, refPath, 'ref');
        const d = signals.find((s) => s.id === 'reference.derived');
        for (const key of [tr, 'all']) {
          const v = t(key);
          v.pos++;
          if (d) {
            v.tp++;
            const regions = d.evidence.regions ?? [];
            v.ious.push(boxIoU(regions, fc.mask, fc.width, fc.height));
            if (overlapsMask(regions, fc.mask, fc.width)) v.overlaps++;
          }
        }
        const k = kindTally.get(kind) ?? { n: 0, tp: 0 };
        k.n++;
        if (d) k.tp++;
        kindTally.set(kind, k);
        if (!d) missed.push(`${id} → ${signals.map((s) => s.id).join(',') || 'nothing'}`);
      }
    }
  }

  // genuine counterparts
  const pairs: { ref: string; claim: string; what: string }[] = [];
  for (const [ci, c] of classes.entries()) {
    const other = classes[(ci + 7) % classes.length]!;
    pairs.push({ ref: c.listing, claim: c.natural[1]!, what: 'same product: listing vs in-store' });
    pairs.push({ ref: c.listing, claim: c.natural[4]!, what: 'same product: listing vs in-store' });
    for (const j of [1, 2, 3]) pairs.push({ ref: c.natural[0]!, claim: c.natural[j]!, what: 'same product: in-store vs in-store (same shelf)' });
    pairs.push({ ref: c.listing, claim: other.natural[0]!, what: 'other product' });
    pairs.push({ ref: c.natural[0]!, claim: other.natural[2]!, what: 'other product' });
  }
  const genuineKinds = new Map<string, { n: number; fp: number; same: number }>();
  for (const [pi, p] of pairs.entries()) {
    // untransformed (re-encoded as an app uploads it)
    const runs: [string, Buffer][] = [['none', await genuineClaim(p.claim, p.claim)]];
    // and one forger-style transformation each, in rotation
    const tr: TransformName = TRANSFORMS[pi % TRANSFORMS.length]!;
    const rgb = await decodeRgb(p.claim);
    runs.push([tr, (await applyTransform(rgb, new Uint8Array(rgb.width * rgb.height), tr, new Rng(hashSeed(p.claim + tr)))).bytes]);
    for (const [key, bytes] of runs) {
      const signals = await check(bytes, p.ref, 'ref');
      const fp = signals.some((s) => s.id === 'reference.derived');
      const copy = signals.some((s) => s.id === 'reuse.reference_copy');
      for (const k of [key, 'all']) {
        const v = t(k);
        v.neg++;
        if (fp) v.fp++;
        if (copy) v.copyOnGenuine++;
      }
      const g = genuineKinds.get(p.what) ?? { n: 0, fp: 0, same: 0 };
      g.n++;
      if (fp) g.fp++;
      if (signals.some((s) => s.id === 'reference.same_product')) g.same++;
      genuineKinds.set(p.what, g);
      if (fp || copy) falsePos.push(`${p.ref.split('/').pop()} vs ${p.claim.split('/').pop()} [${key}] → ${signals.map((s) => s.id).join(',')}`);
    }
  }

  const pct = (a: number, b: number) => (b ? ((100 * a) / b).toFixed(1) : '—').padStart(6);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  console.log(`reference check: ${classes.length} classes, ${t('all').pos} forgeries, ${t('all').neg} genuine claims, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  console.log('transformation   forged  TPR%   genuine  FPR%  meanIoU  regions-hit-edit%');
  const figures: Record<string, number> = {};
  for (const key of ['none', ...TRANSFORMS, 'all']) {
    const v = tally.get(key);
    if (!v) continue;
    const iou = mean(v.ious);
    console.log(
      `${key.padEnd(16)} ${String(v.pos).padStart(6)} ${pct(v.tp, v.pos)} ${String(v.neg).padStart(8)} ${pct(v.fp, v.neg)} ${v.pos ? iou.toFixed(3).padStart(8) : '       —'} ${pct(v.overlaps, v.tp)}`,
    );
    const suffix = key === 'all' ? '' : `_${key}`;
    if (v.pos) {
      figures[`reference_tpr${suffix}`] = v.tp / v.pos;
      figures[`reference_iou${suffix}`] = iou;
    }
    if (v.neg) figures[`reference_fpr${suffix}`] = v.fp / v.neg;
  }
  console.log('by edit kind (TPR%): ' + [...kindTally].map(([k, v]) => `${k} ${pct(v.tp, v.n).trim()}`).join(', '));
  console.log('genuine by kind: ' + [...genuineKinds].map(([k, v]) => `${k}: ${v.fp}/${v.n} derived, ${v.same} same_product`).join('; '));
  console.log(`genuine claims reported as reuse.reference_copy: ${t('all').copyOnGenuine}`);
  if (missed.length) console.log(`missed forgeries (${missed.length}):\n  ` + missed.slice(0, 40).join('\n  '));
  if (falsePos.length) console.log(`genuine claims flagged (${falsePos.length}):\n  ` + falsePos.slice(0, 40).join('\n  '));
  return figures;
}
