// From the per-block double-compression map to the regions a reviewer is shown: blocks whose
// coefficients were quantized once, inside a picture that was otherwise saved twice.
// Pure: the analysis in, regions (in stored pixels, before EXIF orientation) out.

import type { DoubleCompressionAnalysis } from './double-compression.ts';
import { orientBox } from '../orientation.ts';

export interface BlockRegion {
  /** Box in stored pixels (before EXIF orientation), clipped to the picture. */
  x: number;
  y: number;
  width: number;
  height: number;
  /** Blocks in the region. */
  blocks: number;
  /** Sum of −log-ratio over the region's blocks (nats of evidence for "quantized once"). */
  evidence: number;
}

export interface LocalEditFinding {
  regions: BlockRegion[];
  /** Per block (analysis grid, stored orientation), 0–1: how strongly the block reads as quantized once. */
  suspicion: Float32Array;
  /** Share of the blocks with a usable reading that were flagged. */
  flaggedShare: number;
}

/** A block whose 3×3 neighbourhood sums to less than −this reads as quantized once. */
export const FLAG_BELOW = 6;
/** The heatmap saturates at this −log-ratio of a neighbourhood. */
const HEAT_FULL = 30;
/** A region must hold this much evidence (nats) to be reported; one noisy block does not. */
export const MIN_REGION_EVIDENCE = 80;
export const MIN_REGION_BLOCKS = 2;
/**
 * …and this much per block on average: painted-in damage reads 3.5–13 nats per block in the
 * eval's forgeries, while the faint, spread-out patches an unedited re-save can show read
 * 1.3–2.7.
 */
export const MIN_REGION_MEAN = 3;
/**
 * When more than this share of the picture reads as quantized once, the double-compression
 * model does not describe the picture (a grid shift, a resize, a mostly repainted picture):
 * no local claim is made from it.
 */
export const MAX_FLAGGED_SHARE = 0.15;

export function findLocalEdits(a: DoubleCompressionAnalysis, width: number, height: number): LocalEditFinding {
  const { blocksWide: bw, blocksHigh: bh, blockLogRatio: l } = a;
  const n = bw * bh;
  const smooth = new Float32Array(n).fill(Number.NaN);
  let informative = 0;
  for (let by = 0; by < bh; by++) {
    for (let bx = 0; bx < bw; bx++) {
      if (Number.isNaN(l[by * bw + bx]!)) continue;
      informative++;
      let s = 0;
      for (let dy = -1; dy <= 1; dy++) {
        const y = by + dy;
        if (y < 0 || y >= bh) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const x = bx + dx;
          if (x < 0 || x >= bw) continue;
          const v = l[y * bw + x]!;
          if (!Number.isNaN(v)) s += v;
        }
      }
      smooth[by * bw + bx] = s;
    }
  }
  const suspicion = new Float32Array(n);
  const flagged = new Uint8Array(n);
  let flaggedCount = 0;
  for (let i = 0; i < n; i++) {
    const s = smooth[i]!;
    if (Number.isNaN(s)) continue;
    suspicion[i] = Math.min(1, Math.max(0, -s / HEAT_FULL));
    if (s < -FLAG_BELOW) {
      flagged[i] = 1;
      flaggedCount++;
    }
  }
  const flaggedShare = informative ? flaggedCount / informative : 0;
  const finding: LocalEditFinding = { regions: [], suspicion, flaggedShare };
  // none flagged, or so many that the map as a whole is not trusted (see MAX_FLAGGED_SHARE)
  if (flaggedCount === 0 || flaggedShare > MAX_FLAGGED_SHARE) return finding;
  // connected parts (8-neighbourhood) of flagged blocks; a one-block gap is bridged, as a thin
  // crack crosses blocks whose readings alternate between strong and merely negative
  const label = new Int32Array(n).fill(-1);
  const stack: number[] = [];
  for (let start = 0; start < n; start++) {
    if (!flagged[start] || label[start]! >= 0) continue;
    let x0 = bw, y0 = bh, x1 = -1, y1 = -1, blocks = 0, evidence = 0;
    label[start] = start;
    stack.push(start);
    while (stack.length) {
      const i = stack.pop()!;
      const bx = i % bw;
      const by = (i - bx) / bw;
      blocks++;
      const v = l[i]!;
      if (!Number.isNaN(v) && v < 0) evidence -= v;
      if (bx < x0) x0 = bx;
      if (bx > x1) x1 = bx;
      if (by < y0) y0 = by;
      if (by > y1) y1 = by;
      for (let dy = -2; dy <= 2; dy++) {
        const y = by + dy;
        if (y < 0 || y >= bh) continue;
        for (let dx = -2; dx <= 2; dx++) {
          const x = bx + dx;
          if (x < 0 || x >= bw) continue;
          const j = y * bw + x;
          if (flagged[j] && label[j]! < 0) {
            label[j] = start;
            stack.push(j);
          }
        }
      }
    }
    if (blocks < MIN_REGION_BLOCKS || evidence < MIN_REGION_EVIDENCE || evidence < MIN_REGION_MEAN * blocks) continue;
    const x = x0 * 8;
    const y = y0 * 8;
    finding.regions.push({ x, y, width: Math.min(width, (x1 + 1) * 8) - x, height: Math.min(height, (y1 + 1) * 8) - y, blocks, evidence });
  }
  finding.regions.sort((p, q) => q.evidence - p.evidence);
  return finding;
}

/**
 * A block with a pixel this close to 0 or 255 in any channel is not judged: a single clipped
 * specular highlight moved a camera photo's block off the lattice by 9–18 nats. The re-save
 * shifts values by a few levels, hence the margin.
 */
const CLIP_LOW = 3;
const CLIP_HIGH = 252;

/**
 * Blocks (stored layout) the map must not judge:
 * - where the decoded colour is clipped (saturated reds and blues, blown highlights, crushed
 *   shadows): the first decode clipped RGB, the re-save computed luma from the clipped values,
 *   and the coefficients left the first save's lattice although nobody edited anything (a
 *   camera photo re-saved once showed a saturated orange edge and a blue plate as "saved once"
 *   before this mask);
 * - the last column and row when the picture does not fill them: each save pads them with
 *   copies of its own edge pixels, so their coefficients never keep the first save's lattice
 *   (an unedited re-save of a 540 px wide photo had its last column flagged).
 * `rgb` is the oriented picture.
 */
export function unjudgedBlocks(
  rgb: { data: Uint8Array; width: number; height: number; channels: number },
  blocksWide: number,
  blocksHigh: number,
  storedWidth: number,
  storedHeight: number,
  orientation: number,
): Uint8Array {
  const out = new Uint8Array(blocksWide * blocksHigh);
  const { data, width: dw, channels: ch } = rgb;
  for (let by = 0; by < blocksHigh; by++) {
    for (let bx = 0; bx < blocksWide; bx++) {
      const x = bx * 8;
      const y = by * 8;
      if (x + 8 > storedWidth || y + 8 > storedHeight) {
        out[by * blocksWide + bx] = 1;
        continue;
      }
      const box = orientBox({ x, y, width: 8, height: 8 }, storedWidth, storedHeight, orientation);
      let clipped = false;
      for (let py = box.y; py < box.y + box.height && !clipped; py++) {
        for (let px = box.x; px < box.x + box.width; px++) {
          const i = (py * dw + px) * ch;
          const r = data[i]!;
          const g = ch >= 3 ? data[i + 1]! : r;
          const b = ch >= 3 ? data[i + 2]! : r;
          if (r <= CLIP_LOW || r >= CLIP_HIGH || g <= CLIP_LOW || g >= CLIP_HIGH || b <= CLIP_LOW || b >= CLIP_HIGH) {
            clipped = true;
            break;
          }
        }
      }
      if (clipped) out[by * blocksWide + bx] = 1;
    }
  }
  return out;
}
