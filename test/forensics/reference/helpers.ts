// Shared helpers for the reference-check tests: generated forgeries from ../shared/photos
// (the same generator as `npm run eval`) run through the real detector.

import { readFileSync } from 'node:fs';
import { referenceDetector } from '../../../src/forensics/detectors/reference.ts';
import { intakeImage } from '../../../src/forensics/intake.ts';
import type { ReferenceMedia, Signal } from '../../../src/forensics/types.ts';

export { boxIoU, genuineClaim, makeForgery, overlapsMask, photoClasses } from '../../../bench/forgery/dataset.ts';

export async function reference(path: string, id = 'listing.jpg'): Promise<ReferenceMedia> {
  return { id, kind: 'listing', image: await intakeImage(readFileSync(path), { name: path }) };
}

export async function runCheck(claim: Uint8Array, refs: ReferenceMedia[]): Promise<Signal[]> {
  const image = await intakeImage(claim, { name: 'claim.jpg' });
  return referenceDetector.run(image, { references: refs });
}
