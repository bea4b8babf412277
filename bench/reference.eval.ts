// `npm run eval reference`: detection quality of the reference check (reference.derived) on
// a labelled set generated from ../shared/photos at run time (bench/forgery/*):
//   forgeries  – a reference (listing photo, or a natural photo used as the reference),
//                upscaled, one local damage edit, then one forger's transformation;
//   copies     – each forgery reference, upscaled, put through every transformation with
//                no edit: the right answer is reuse.reference_copy; reference.derived on a
//                copy is a false positive;
//   genuine    – independent photos of the same product (listing vs in-store photo, and
//                in-store photos of the same shelf shot seconds apart), photos of other
//                products; untransformed and put through the same transformations.
// Prints per transformation: TPR, FPR (genuine and copies apart, then both together), how
// many copies were reported as copies, mean box IoU of the reported regions with the true
// edit (boxes of the mask's parts, parts closer than 2 % of the frame grouped).
// REFERENCE_EVAL_CLASSES=n limits the classes (default: all 41); REFERENCE_EVAL_FROM=k
// evaluates only classes k… of those (the genuine pairs still draw their "other product"
// from all n), e.g. REFERENCE_EVAL_FROM=20 for the classes held out from development.
// REFERENCE_EVAL_TRANSFORMS=resize25,combined evaluates only those transformations (forgeries,
// copies and genuine claims; a development aid: the figures then cover those alone).

import { readFileSync } from 'node:fs';
import { intakeImage } from '../src/forensics/intake.ts';
import { referenceDetector } from '../src/forensics/detectors/reference.ts';
import type { ReferenceMedia, Signal } from '../src/forensics/types.ts';
import { VISIBLE_EDIT, boxIoU, decodeRgb, forgeryPlan, genuineClaim, makeCopy, photoKey, makeForgery, overlapsMask, photoClasses } from './forgery/dataset.ts';
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
  /** pure copies, those reported derived (false positives), those reported as copies */
  copies: number;
  copyFp: number;
  copyOk: number;
}

const tally = new Map<string, Tally>();
/** Independent motion (movedShare in the evidence) per kind of claim: how often it decided, the largest share seen. */
const motion = new Map<string, { decided: number; max: number; maxId: string }>();
function noteMotion(kind: string, id: string, signals: Signal[]): void {
  const m = motion.get(kind) ?? { decided: 0, max: 0, maxId: '' };
  for (const s of signals) {
    const share = (s.evidence.reference as { movedShare?: number } | undefined)?.movedShare;
    if (share !== undefined && share > m.max) {
      m.max = share;
      m.maxId = id;
    }
    if (s.evidence.movedOnItsOwn === true) m.decided++;
  }
  motion.set(kind, m);
}
const t = (k: string): Tally => {
  let v = tally.get(k);
  if (!v) tally.set(k, (v = { pos: 0, tp: 0, ious: [], overlaps: 0, neg: 0, fp: 0, copyOnGenuine: 0, copies: 0, copyFp: 0, copyOk: 0 }));
  return v;
};

async function check(claim: Buffer, refPath: string, refId: string): Promise<Signal[]> {
  const image = await intakeImage(claim, { name: 'claim.jpg' });
  const ref: ReferenceMedia = { id: refId, kind: 'listing', image: await intakeImage(readFileSync(refPath), { name: refId }) };
  return referenceDetector.run(image, { references: [ref] });
}

export default async function referenceEval(): Promise<Record<string, number>> {
  const limit = Number(process.env.REFERENCE_EVAL_CLASSES ?? 41);
  const from = Number(process.env.REFERENCE_EVAL_FROM ?? 0);
  const classes = photoClasses().slice(0, limit);
  const t0 = performance.now();
  const missed: string[] = [];
  const falsePos: string[] = [];
  const copyMisses: string[] = [];
  /** Forgeries whose first edit the claim did not show, drawn again (see VISIBLE_EDIT). */
  const redrawn: string[] = [];
  const invisible: string[] = [];
  const kindTally = new Map<string, { n: number; tp: number }>();
  const onlyTransforms = process.env.REFERENCE_EVAL_TRANSFORMS?.split(',').filter(Boolean);
  const wanted = (tr: string) => !onlyTransforms || onlyTransforms.includes(tr);

  // forgeries: every class from its listing photo, every third class from a natural photo;
  // and pure copies of the same references
  for (const [ci, c] of classes.entries()) {
    if (ci < from) continue;
    for (const { refPath, refKind, cases, copies } of forgeryPlan(c, ci)) {
      for (const { transform: tr, id } of copies) {
        if (!wanted(tr)) continue;
        const signals = await check(await makeCopy(refPath, tr), refPath, 'ref');
        const derived = signals.some((s) => s.id === 'reference.derived');
        const copy = signals.some((s) => s.id === 'reuse.reference_copy');
        noteMotion('copies', id, signals);
        for (const key of [tr, 'all']) {
          const v = t(key);
          v.copies++;
          if (derived) v.copyFp++;
          if (copy) v.copyOk++;
        }
        if (!copy) copyMisses.push(`${id} → ${signals.map((s) => s.id).join(',') || 'nothing'}`);
      }
      for (const { kind, transform: tr, id } of cases) {
        if (!wanted(tr)) continue;
        const fc = await makeForgery(refPath, refKind, kind, tr, id);
        if (fc.redrawn) redrawn.push(`${id} (drawn ${fc.redrawn + 1} times, ${fc.visiblePixels} px changed)`);
        if (fc.visiblePixels < VISIBLE_EDIT.pixels) {
          // still not in the picture after every redraw: no forgery to find; counted apart
          invisible.push(id);
          continue;
        }
        const signals = await check(fc.claim, refPath, 'ref');
        const d = signals.find((s) => s.id === 'reference.derived');
        noteMotion('forgeries', id, signals);
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
  // (built for every class, so that a pair's place in the list, which picks its
  // transformation, does not depend on REFERENCE_EVAL_FROM)
  const pairs: { ci: number; ref: string; claim: string; what: string }[] = [];
  for (const [ci, c] of classes.entries()) {
    const other = classes[(ci + 7) % classes.length]!;
    pairs.push({ ci, ref: c.listing, claim: c.natural[1]!, what: 'same product: listing vs in-store' });
    pairs.push({ ci, ref: c.listing, claim: c.natural[4]!, what: 'same product: listing vs in-store' });
    for (const j of [1, 2, 3]) pairs.push({ ci, ref: c.natural[0]!, claim: c.natural[j]!, what: 'same product: in-store vs in-store (same shelf)' });
    pairs.push({ ci, ref: c.listing, claim: other.natural[0]!, what: 'other product' });
    pairs.push({ ci, ref: c.natural[0]!, claim: other.natural[2]!, what: 'other product' });
  }
  const genuineKinds = new Map<string, { n: number; fp: number; same: number }>();
  for (const [pi, p] of pairs.entries()) {
    if (p.ci < from) continue;
    // untransformed (re-encoded as an app uploads it)
    // one forger-style transformation each, in rotation
    const tr: TransformName = TRANSFORMS[pi % TRANSFORMS.length]!;
    if (!wanted(tr) && !wanted('none')) continue;
    const runs: [string, Buffer][] = [['none', await genuineClaim(p.claim, photoKey(p.claim))]];
    const rgb = await decodeRgb(p.claim);
    runs.push([tr, (await applyTransform(rgb, new Uint8Array(rgb.width * rgb.height), tr, new Rng(hashSeed(photoKey(p.claim) + tr)))).bytes]);
    for (const [key, bytes] of runs) {
      if (!wanted(key)) continue;
      const signals = await check(bytes, p.ref, 'ref');
      const fp = signals.some((s) => s.id === 'reference.derived');
      const copy = signals.some((s) => s.id === 'reuse.reference_copy');
      noteMotion('genuine', `${p.ref.split('/').pop()} vs ${p.claim.split('/').pop()} [${key}]`, signals);
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
  const nClasses = Math.max(0, classes.length - from);
  console.log(
    `reference check: ${nClasses} classes${from ? ` (${from + 1}–${classes.length})` : ''}, ${t('all').pos} forgeries, ${t('all').copies} pure copies, ${t('all').neg} genuine claims, ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
  console.log('FPR% = derived on genuine claims and pure copies together; copies→copy% = copies reported as reuse.reference_copy');
  console.log('transformation   forged  TPR%   genuine gFPR%  copies cFPR%   FPR%  copies→copy%  meanIoU  regions-hit-edit%');
  const figures: Record<string, number> = {};
  for (const key of ['none', ...TRANSFORMS, 'all']) {
    const v = tally.get(key);
    if (!v) continue;
    const iou = mean(v.ious);
    console.log(
      `${key.padEnd(16)} ${String(v.pos).padStart(6)} ${pct(v.tp, v.pos)} ${String(v.neg).padStart(8)} ${pct(v.fp, v.neg)} ${String(v.copies).padStart(7)} ${pct(v.copyFp, v.copies)} ${pct(v.fp + v.copyFp, v.neg + v.copies)} ${pct(v.copyOk, v.copies).padStart(13)} ${v.pos ? iou.toFixed(3).padStart(8) : '       —'} ${pct(v.overlaps, v.tp)}`,
    );
    const suffix = key === 'all' ? '' : `_${key}`;
    if (v.pos) {
      figures[`reference_tpr${suffix}`] = v.tp / v.pos;
      figures[`reference_iou${suffix}`] = iou;
    }
    // reference_fpr keeps its meaning from before the copies were added (genuine claims only:
    // other tools read it); reference_fpr_with_copies counts both, the target's negatives.
    if (v.neg) figures[`reference_fpr${suffix}`] = v.fp / v.neg;
    if (v.neg + v.copies) figures[`reference_fpr_with_copies${suffix}`] = (v.fp + v.copyFp) / (v.neg + v.copies);
    if (v.copies) {
      figures[`reference_fpr_copies${suffix}`] = v.copyFp / v.copies;
      figures[`reference_copy_recall${suffix}`] = v.copyOk / v.copies;
    }
  }
  console.log('by edit kind (TPR%): ' + [...kindTally].map(([k, v]) => `${k} ${pct(v.tp, v.n).trim()}`).join(', '));
  console.log('genuine by kind: ' + [...genuineKinds].map(([k, v]) => `${k}: ${v.fp}/${v.n} derived, ${v.same} same_product`).join('; '));
  console.log(`genuine claims reported as reuse.reference_copy: ${t('all').copyOnGenuine}`);
  console.log(
    'independent motion (same_product because parts moved on their own; largest moved share seen): ' +
      [...motion].map(([k, m]) => `${k}: ${m.decided} decided, max ${m.max.toFixed(3)} (${m.maxId})`).join('; '),
  );
  console.log(
    `edits the claim did not show (fewer than ${VISIBLE_EDIT.pixels} px changed by ≥ ${VISIBLE_EDIT.levels}), drawn again with the next seed: ${redrawn.length}` +
      (redrawn.length ? `\n  ${redrawn.join('\n  ')}` : '') +
      (invisible.length ? `\n  not shown after ${VISIBLE_EDIT.attempts} draws, left out: ${invisible.join(', ')}` : ''),
  );
  figures.reference_redrawn_edits = redrawn.length;
  if (missed.length) console.log(`missed forgeries (${missed.length}):\n  ` + missed.slice(0, 40).join('\n  '));
  if (copyMisses.length) console.log(`pure copies not reported as copies (${copyMisses.length}):\n  ` + copyMisses.slice(0, 40).join('\n  '));
  if (falsePos.length) console.log(`genuine claims flagged (${falsePos.length}):\n  ` + falsePos.slice(0, 40).join('\n  '));
  return figures;
}
