// Turns an image's signals into one risk figure and one verdict that a reviewer can
// trace back: each non-info signal contributes its strength (score × confidence) times
// the weight of its verdict, combined as independent evidence (noisy-OR). Info signals
// carry facts for the reviewer and a small weight only when they say something odd.

import type { ImageVerdict, Signal, SignalVerdict } from './types.ts';
import { round } from './signal.ts';

const VERDICT_WEIGHT: Record<SignalVerdict, number> = {
  ai_generated: 1,
  tampered: 1,
  suspicious: 0.6,
  info: 0.1,
};

/** A tampered / ai_generated signal at least this strong sets the image verdict. */
export const STRONG_SIGNAL = 0.5;
/** Risk at or above this makes an image `suspicious` when no strong signal decides. */
export const SUSPICIOUS_RISK = 0.3;

export function strength(s: Signal): number {
  return s.score * s.confidence;
}

export function combineRisk(signals: Signal[]): number {
  let keep = 1;
  for (const s of signals) keep *= 1 - VERDICT_WEIGHT[s.verdict] * strength(s);
  return round(1 - keep);
}

export function imageVerdict(signals: Signal[], risk: number): ImageVerdict {
  let best: { v: 'tampered' | 'ai_generated'; s: number } | undefined;
  for (const s of signals) {
    if (s.verdict !== 'tampered' && s.verdict !== 'ai_generated') continue;
    const st = strength(s);
    if (st >= STRONG_SIGNAL && (!best || st > best.s)) best = { v: s.verdict, s: st };
  }
  if (best) return best.v;
  const anyRisky = signals.some((s) => s.verdict !== 'info' && strength(s) > 0);
  if (risk >= SUSPICIOUS_RISK || (anyRisky && signals.some((s) => s.verdict !== 'info' && strength(s) >= SUSPICIOUS_RISK))) {
    return 'suspicious';
  }
  return 'clean';
}
