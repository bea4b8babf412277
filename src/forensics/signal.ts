// Small helpers for building signals consistently across detectors.

import type { Evidence, LocalizedText, Signal, SignalVerdict } from './types.ts';

export function signal(
  id: string,
  verdict: SignalVerdict,
  score: number,
  confidence: number,
  summary: LocalizedText,
  evidence: Evidence = {},
  why?: LocalizedText,
): Signal {
  const s: Signal = { id, verdict, score: clamp01(score), confidence: clamp01(confidence), summary, evidence };
  if (why) s.why = why;
  return s;
}

export function clamp01(x: number): number {
  if (!Number.isFinite(x)) return 0;
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

/** Rounds to a few decimals so JSON output stays readable and stable. */
export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
