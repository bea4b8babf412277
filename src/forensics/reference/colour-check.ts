// Is a candidate region an edit, or a colour the global colour model got wrong?
//
// A forger's colour change (saturation, white balance, gamma, clipping) acts on colours, the
// same way wherever they are. The global model of `matchColours` (a channel mix and one tone
// curve per channel, fitted over the whole overlap) cannot follow every such change — a
// saturation boost that clips an orange cap, a gamma on a beige splash — and leaves a residual
// on the pixels of that colour. Locally, though, it is still a colour change: over the region
// and a ring of its surroundings, one gain and offset per channel of the aligned reference
// reproduce the claim, region and ring alike (a small neighbourhood holds few hues, over which a
// saturation or white-balance change is near enough to per-channel). An edit is not: a stain, a crack, dirt or a pasted piece
// changes the region while the same reference colours around it stay as they were, so no one
// colour map fits both — either the region is left unexplained or the ring is spoiled.
//
// Regions explained this way are not edits. A region whose surroundings are mostly outside the
// overlap (fewer ring pixels than region pixels) is not judged: there the map would be fitted
// on the region alone and would explain anything.

import type { ChangeRegion, ResidualResult } from './residual.ts';

export const COLOUR_CHECK = {
  /** the ring around the region's box, as a share of the frame's long side (at least 3 px) */
  ringShare: 0.02,
  /** after the local map, at most this share of the region's pixels may still reach the low threshold… */
  maxLeftInRegion: 0.1,
  /** …and at most this share of the ring's */
  maxLeftInRing: 0.05,
};

/** Whether one gain and offset per channel of the reference explain the claim over the region and its ring. */
export function recolouredOnly(
  r: Pick<ResidualResult, 'width' | 'height' | 'valid' | 'claimRgb' | 'refRgb'>,
  g: ChangeRegion,
  changed: Uint8Array,
  low: number,
): boolean {
  const W = r.width, H = r.height;
  const C = r.claimRgb, R = r.refRgb;
  if (!C || !R) return false;
  const gap = Math.max(3, Math.round(COLOUR_CHECK.ringShare * Math.max(W, H)));
  const x0 = Math.max(0, g.x - gap), y0 = Math.max(0, g.y - gap);
  const x1 = Math.min(W - 1, g.x + g.width - 1 + gap), y1 = Math.min(H - 1, g.y + g.height - 1 + gap);
  const inRegion = (x: number, y: number) => x >= g.x && x < g.x + g.width && y >= g.y && y < g.y + g.height && changed[y * W + x] === 1;
  // claim_c ≈ gain_c · reference_c + offset_c over region and ring (other regions left out):
  // sums of the per-channel least squares
  const sx = [0, 0, 0], sy = [0, 0, 0], sxx = [0, 0, 0], sxy = [0, 0, 0];
  const pixels: number[] = [];
  let regionPixels = 0;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const i = y * W + x;
      if (!r.valid[i]) continue;
      const own = inRegion(x, y);
      if (changed[i] && !own) continue;
      if (own) regionPixels++;
      pixels.push(i);
      for (let c = 0; c < 3; c++) {
        const rv = R[3 * i + c]!, cv = C[3 * i + c]!;
        sx[c] += rv; sy[c] += cv; sxx[c] += rv * rv; sxy[c] += rv * cv;
      }
    }
  }
  const ringPixels = pixels.length - regionPixels;
  if (!regionPixels || ringPixels < regionPixels) return false;
  const n = pixels.length;
  const gain = [0, 1, 2].map((c) => (n * sxy[c]! - sx[c]! * sy[c]!) / (n * sxx[c]! - sx[c]! * sx[c]! + 1e-3 * n * n));
  const offset = [0, 1, 2].map((c) => (sy[c]! - gain[c]! * sx[c]!) / n);
  const mapped = (k: number, c: number) => gain[c]! * R[3 * k + c]! + offset[c]!;
  // the claim against the range of the mapped reference over a 3×3 neighbourhood, as the
  // residual compares it
  let regionLeft = 0, ringLeft = 0;
  for (const i of pixels) {
    const x = i % W, y = (i - x) / W;
    let worst = 0;
    for (let c = 0; c < 3; c++) {
      let lo = Infinity, hi = -Infinity;
      for (let yy = Math.max(0, y - 1); yy <= Math.min(H - 1, y + 1); yy++) {
        for (let xx = Math.max(0, x - 1); xx <= Math.min(W - 1, x + 1); xx++) {
          const t = mapped(yy * W + xx, c);
          if (t < lo) lo = t;
          if (t > hi) hi = t;
        }
      }
      const val = C[3 * i + c]!;
      const d = val > hi ? val - hi : val < lo ? lo - val : 0;
      if (d > worst) worst = d;
    }
    if (worst < low) continue;
    if (inRegion(x, y)) regionLeft++;
    else ringLeft++;
  }
  return regionLeft <= COLOUR_CHECK.maxLeftInRegion * regionPixels && ringLeft <= COLOUR_CHECK.maxLeftInRing * ringPixels;
}
