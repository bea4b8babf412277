// Dumps, for the reference eval's cases (same generation as bench/reference.eval.ts), the
// relation found and every residual component at a permissive setting, as JSON lines, so
// that decision rules can be studied offline. Also pure copies (reference + transform, no
// edit; every transformation, as in the eval), which must stay `copy`. N=20 node --import tsx bench/forgery/dump.ts > dump.jsonl
import { readFileSync } from 'node:fs';
import { intakeImage } from '../../src/forensics/intake.ts';
import { compareWithReferences, type ReferenceFinding } from '../../src/forensics/reference/compare.ts';
import { findChanges } from '../../src/forensics/reference/residual.ts';
import type { ReferenceMedia } from '../../src/forensics/types.ts';
import { decodeRgb, forgeryPlan, genuineClaim, makeCopy, photoKey, makeForgery, photoClasses } from './dataset.ts';
import { Rng, hashSeed } from './random.ts';
import { TRANSFORMS, applyTransform, type TransformName } from './transforms.ts';

const from = Number(process.env.FROM ?? 0);
const classes = photoClasses().slice(from, Number(process.env.N ?? 41));

// ONLY=forgery|copy|genuine restricts the kinds of cases
const only = process.env.ONLY;
async function one(label: Record<string, unknown>, claim: Uint8Array, refPath: string, mask?: { m: Uint8Array; w: number }) {
  if (only && label.t !== only) return;
  const image = await intakeImage(claim, { name: 'claim.jpg' });
  const ref: ReferenceMedia = { id: 'ref', kind: 'listing', image: await intakeImage(readFileSync(refPath), { name: 'ref' }) };
  const { findings, claim: wc } = await compareWithReferences(image, [ref]);
  const f: ReferenceFinding = findings[0]!;
  const out: Record<string, unknown> = { ...label, relation: f.relation, inliers: f.alignment?.inliers ?? 0 };
  const r = f.residual;
  if (r && f.changes) {
    const perm = await findChanges(r, { floor: 14, minAreaShare: 0, minArea: 4 });
    const s = wc.scale * r.scale;
    const comps = [...perm.regions.map((x) => ({ ...x, peak: -1 })), ...(perm.rejected ?? [])].map((x) => {
      let hit = 0;
      if (mask) {
        const x0 = Math.floor(x.x * s), y0 = Math.floor(x.y * s), x1 = Math.ceil((x.x + x.width) * s), y1 = Math.ceil((x.y + x.height) * s);
        const h = mask.m.length / mask.w;
        for (let y = Math.max(0, y0); y < Math.min(h, y1) && !hit; y++) for (let xx = Math.max(0, x0); xx < Math.min(mask.w, x1); xx++) if (mask.m[y * mask.w + xx]) { hit = 1; break; }
      }
      return { x: x.x, y: x.y, w: x.width, h: x.height, a: x.area, s: Math.round(x.strength * 10) / 10, pk: x.peak, hit };
    });
    // peak of kept components is not reported by findChanges: recompute from the residual
    for (const c of comps) if (c.pk < 0) { let m = 0; for (let y = c.y; y < c.y + c.h; y++) for (let x = c.x; x < c.x + c.w; x++) m = Math.max(m, r.residual[y * r.width + x]!); c.pk = m; }
    Object.assign(out, {
      W: r.width, H: r.height, p75: r.p75, med: r.median, objA: r.objectArea, valA: r.validArea, vis: f.referenceVisible, ovl: r.overlapShareOfClaim,
      fit: Math.round(f.changes.fitResidual * 100) / 100, diff: Math.round(f.changes.diffuseShare * 1000) / 1000, thr: f.changes.threshold,
      nreg: f.changes.regions.length, misfit: f.changes.misfit, scattered: f.scatteredMisfit ?? false, chShare: f.changes.changedShareOfObject, comps,
    });
  }
  console.log(JSON.stringify(out));
}

for (const [i, c] of classes.entries()) {
  const ci = i + from;
  for (const { refPath, refKind, cases } of forgeryPlan(c, ci)) {
    for (const { kind, transform: tr, id } of cases) {
      const fc = await makeForgery(refPath, refKind, kind, tr, id);
      await one({ t: 'forgery', id, tr, kind }, fc.claim, refPath, { m: fc.mask, w: fc.width });
    }
  }
  // pure copies: the same references through every transformation, no edit
  for (const { refPath, refKind, copies } of forgeryPlan(c, ci)) {
    for (const { transform: tr, id } of copies) await one({ t: 'copy', id, tr, kind: refKind }, await makeCopy(refPath, tr), refPath);
  }
}
const all = photoClasses();
const lim = Number(process.env.NC ?? process.env.N ?? 41);
const pool = all.slice(0, lim);
let pi = 0;
for (const [i, c] of pool.entries()) {
  const other = pool[(i + 7) % pool.length]!;
  const pairs: { ref: string; claim: string; what: string }[] = [];
  pairs.push({ ref: c.listing, claim: c.natural[1]!, what: 'listing-instore' });
  pairs.push({ ref: c.listing, claim: c.natural[4]!, what: 'listing-instore' });
  for (const j of [1, 2, 3]) pairs.push({ ref: c.natural[0]!, claim: c.natural[j]!, what: 'burst' });
  pairs.push({ ref: c.listing, claim: other.natural[0]!, what: 'other' });
  pairs.push({ ref: c.natural[0]!, claim: other.natural[2]!, what: 'other' });
  for (const p of pairs) {
    const tr: TransformName = TRANSFORMS[pi % TRANSFORMS.length]!;
    pi++;
    if (i < from) continue;
    await one({ t: 'genuine', id: `${p.ref.split('/').pop()} vs ${p.claim.split('/').pop()}`, tr: 'none', what: p.what }, await genuineClaim(p.claim, photoKey(p.claim)), p.ref);
    const rgb = await decodeRgb(p.claim);
    const cl = await applyTransform(rgb, new Uint8Array(rgb.width * rgb.height), tr, new Rng(hashSeed(photoKey(p.claim) + tr)));
    await one({ t: 'genuine', id: `${p.ref.split('/').pop()} vs ${p.claim.split('/').pop()}`, tr, what: p.what }, cl.bytes, p.ref);
  }
}
