// Shortlist of candidate references: PDQ distance over all 8 rotations/flips (catches
// re-encodes, resizes, rotations and mirrors cheaply) and a colour descriptor (survives
// cropping and framing, which PDQ does not). The ranking decides the order in which
// candidates are aligned and which are aligned at all when there are very many.

import { hammingDistance, pdqHashPixels } from '../pdq/index.ts';
import type { ReferenceMedia } from '../types.ts';
import type { WorkingImage } from './working.ts';

export interface ShortlistEntry {
  reference: ReferenceMedia;
  /** Smallest PDQ distance over the claim's dihedral variants (undefined when PDQ is unavailable). */
  pdqDistance?: number;
  /** Histogram intersection of coarse colour histograms, 0–1. */
  colourSimilarity: number;
  /** Combined rank score, higher = more likely related. */
  score: number;
}

/** Ranks references (with their working copies) against the claim's working copy. */
export async function shortlist(claim: WorkingImage, refs: readonly { reference: ReferenceMedia; working: WorkingImage }[]): Promise<(ShortlistEntry & { working: WorkingImage })[]> {
  const claimHist = colourHistogram(claim.rgb);
  let claimPdq: string[] | undefined;
  try {
    // PDQ works on a 64×64 downsample: the working copies are more than enough
    const r = pdqHashPixels({ data: claim.rgb, width: claim.width, height: claim.height, channels: 3 }, { dihedral: true });
    claimPdq = r.dihedral ?? [r.hash];
  } catch {
    claimPdq = undefined; // PDQ not available: rank by colour only
  }
  const out: (ShortlistEntry & { working: WorkingImage })[] = [];
  for (const { reference, working } of refs) {
    let pdqDistance: number | undefined;
    if (claimPdq) {
      try {
        const h = pdqHashPixels({ data: working.rgb, width: working.width, height: working.height, channels: 3 }).hash;
        pdqDistance = Math.min(...claimPdq.map((c) => hammingDistance(c, h)));
      } catch {
        pdqDistance = undefined;
      }
    }
    const colourSimilarity = histIntersection(claimHist, colourHistogram(working.rgb));
    const pdqScore = pdqDistance === undefined ? 0 : Math.max(0, 1 - pdqDistance / 128);
    out.push({ reference, working, pdqDistance, colourSimilarity, score: colourSimilarity + 2 * pdqScore });
  }
  return out.sort((a, b) => b.score - a.score);
}

/** 8×8×8 RGB histogram, normalised, sampled on a stride for speed. */
export function colourHistogram(data: Uint8Array, channels = 3, stride = 1): Float64Array {
  const h = new Float64Array(512);
  const step = channels * Math.max(1, stride);
  let n = 0;
  for (let j = 0; j + 2 < data.length; j += step) {
    h[((data[j]! >> 5) << 6) | ((data[j + 1]! >> 5) << 3) | (data[j + 2]! >> 5)]++;
    n++;
  }
  if (n) for (let i = 0; i < 512; i++) h[i] = h[i]! / n;
  return h;
}

export function histIntersection(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.min(a[i]!, b[i]!);
  return s;
}
