// Shortlist of candidate references: PDQ distance over all 8 rotations/flips (catches
// re-encodes, resizes, rotations and mirrors cheaply) and a colour descriptor (survives
// cropping and framing, which PDQ does not). The ranking decides the order in which
// candidates are aligned and which are aligned at all when there are very many.

import { hammingDistance, pdqHashPixels } from '../pdq/index.ts';
import sharp from 'sharp';
import type { RawPixels, ReferenceMedia } from '../types.ts';
import type { PreparedReference } from './prepared.ts';
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

/** Ranks references (with their prepared data) against the claim's working copy. */
export async function shortlist<T extends { reference: ReferenceMedia; prepared: PreparedReference }>(claim: WorkingImage, refs: readonly T[]): Promise<(ShortlistEntry & T)[]> {
  const claimHist = colourHistogram(claim.rgb);
  let claimPdq: string[] | undefined;
  try {
    const r = pdqHashPixels(await pdqInput(claim), { dihedral: true });
    claimPdq = r.dihedral ?? [r.hash];
  } catch {
    claimPdq = undefined; // PDQ not available: rank by colour only
  }
  const out: (ShortlistEntry & T)[] = [];
  for (const entry of refs) {
    const h = entry.prepared.pdqHash;
    const pdqDistance = claimPdq && h ? Math.min(...claimPdq.map((c) => hammingDistance(c, h))) : undefined;
    const colourSimilarity = histIntersection(claimHist, entry.prepared.histogram);
    const pdqScore = pdqDistance === undefined ? 0 : Math.max(0, 1 - pdqDistance / 128);
    out.push({ ...entry, pdqDistance, colourSimilarity, score: colourSimilarity + 2 * pdqScore });
  }
  return out.sort((a, b) => b.score - a.score);
}

/** PDQ works on a 64×64 downsample: a 256 px copy is plenty and costs a tenth. */
export async function pdqInput(w: WorkingImage): Promise<RawPixels> {
  const k = Math.min(1, 256 / Math.max(w.width, w.height));
  const width = Math.max(1, Math.round(w.width * k));
  const height = Math.max(1, Math.round(w.height * k));
  if (k === 1) return { data: w.rgb, width, height, channels: 3 };
  const buf = await sharp(w.rgb, { raw: { width: w.width, height: w.height, channels: 3 } }).resize(width, height, { fit: 'fill' }).raw().toBuffer();
  return { data: new Uint8Array(buf.buffer, buf.byteOffset, buf.length), width, height, channels: 3 };
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
