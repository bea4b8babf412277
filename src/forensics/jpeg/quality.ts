// The IJG quality (1–100) whose scaled standard luminance table (ITU T.81 Annex K, scaled as
// libjpeg does it and as most phones, editors and chat apps copy it) matches a set of
// quantization steps. Reviewers read "saved at quality 75, then at 92" more easily than
// a list of steps. Pure.

/** Annex K luminance table, natural order. */
const ANNEX_K_LUMA = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
  18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100,
  103, 99,
];

export function standardLumaStep(quality: number, naturalIndex: number): number {
  const scale = quality < 50 ? Math.floor(5000 / quality) : 200 - 2 * quality;
  const v = Math.floor((ANNEX_K_LUMA[naturalIndex]! * scale + 50) / 100);
  return Math.min(255, Math.max(1, v));
}

/**
 * The quality whose standard table agrees with the most of `steps` (natural index → step);
 * undefined unless at least `minAgreement` of them agree exactly (a custom table, such as
 * many cameras use, has no IJG quality).
 */
export function estimateQuality(steps: { index: number; step: number }[], minAgreement = 0.75): number | undefined {
  if (steps.length === 0) return undefined;
  let best = 0;
  let bestQ = 0;
  for (let q = 1; q <= 100; q++) {
    let agree = 0;
    for (const s of steps) if (standardLumaStep(q, s.index) === s.step) agree++;
    // ties go to the higher quality: at the top of the range several qualities share steps
    if (agree >= best) {
      best = agree;
      bestQ = q;
    }
  }
  return best >= minAgreement * steps.length ? bestQ : undefined;
}
