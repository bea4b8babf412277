// Diagnostics for single cases of the reference eval: prints, per case, the relation, fit
// figures and the candidate regions (kept and rejected), so that a miss or a false positive
// can be explained. Arguments:
//   forgery <class>/<listing|natural>/<edit>/<transform>    (as the eval names them)
//   copy <class>/<listing|natural>/<transform>              (the reference, no edit)
//   genuine <refFile> <claimFile> [transform]                (files under photos/)
//   node --import tsx bench/forgery/diag.ts forgery Garlic/listing/chip/crop30
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { intakeImage } from '../../src/forensics/intake.ts';
import { compareWithReferences } from '../../src/forensics/reference/compare.ts';
import type { ReferenceMedia } from '../../src/forensics/types.ts';
import { PHOTOS, decodeRgb, genuineClaim, makeCopy, photoKey, makeForgery, photoClasses } from './dataset.ts';
import type { EditKind } from './edits.ts';
import { Rng, hashSeed } from './random.ts';
import { applyTransform, type TransformName } from './transforms.ts';

async function run(label: string, claim: Buffer, refPath: string): Promise<void> {
  const image = await intakeImage(claim, { name: 'claim.jpg' });
  const ref: ReferenceMedia = { id: 'ref', kind: 'listing', image: await intakeImage(readFileSync(refPath), { name: 'ref' }) };
  const { findings } = await compareWithReferences(image, [ref]);
  const f = findings[0]!;
  const ch = f.changes;
  const r = f.residual;
  const round = (x: number | undefined) => (x === undefined ? undefined : Math.round(x * 100) / 100);
  console.log(
    JSON.stringify({
      label,
      relation: f.relation,
      inliers: f.alignment?.inliers,
      residual: r && { w: r.width, h: r.height, scale: round(r.scale), p75: r.p75, median: r.median, objectArea: r.objectArea, validArea: r.validArea },
      fit: ch && round(ch.fitResidual),
      diffuse: ch && round(ch.diffuseShare),
      threshold: ch?.threshold,
      misfit: ch?.misfit,
      regions: ch?.regions.map((x) => ({ x: x.x, y: x.y, w: x.width, h: x.height, area: x.area, s: round(x.strength) })),
      rejected: ch?.rejected?.slice(0, 6),
      error: f.error,
      matching: f.matching,
    }),
  );
}

const [mode, a, b, c] = process.argv.slice(2);
const classes = photoClasses();
if (mode === 'forgery' || mode === 'copy') {
  const parts = a!.split('/');
  const cls = classes.find((x) => x.name === parts[0])!;
  const refPath = parts[1] === 'listing' ? cls.listing : cls.natural[0]!;
  if (mode === 'forgery') {
    const fc = await makeForgery(refPath, parts[1] as 'listing', parts[2] as EditKind, parts[3] as TransformName, a!);
    await run(a!, fc.claim, refPath);
  } else {
    await run(a!, await makeCopy(refPath, parts[2] as TransformName), refPath);
  }
} else if (mode === 'genuine') {
  const refPath = join(PHOTOS, a!);
  const claimPath = join(PHOTOS, b!);
  if (!c || c === 'none') await run(`${a} vs ${b}`, await genuineClaim(claimPath, photoKey(claimPath)), refPath);
  else {
    const rgb = await decodeRgb(claimPath);
    const cl = await applyTransform(rgb, new Uint8Array(rgb.width * rgb.height), c as TransformName, new Rng(hashSeed(photoKey(claimPath) + c)));
    await run(`${a} vs ${b} [${c}]`, Buffer.from(cl.bytes), refPath);
  }
}
