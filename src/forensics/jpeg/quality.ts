// The quality (1–100) and table family whose scaled luminance table matches a set of
// quantization steps. Reviewers read "saved at quality 75, then at 92" more easily than a list
// of steps, and the double-compression model trusts a first save it can name (see
// double-compression.ts). Pure.
//
// The families are the nine base tables libjpeg-turbo and mozjpeg offer (`quant_table` 0–8;
// 0 is ITU T.81 Annex K, the one most phones, editors and chat apps copy), each scaled by
// quality the libjpeg way. They were read from JPEGs that this project's own encoder (sharp)
// wrote at quality 50, where the scale is exactly 1 (entries that the baseline limit clips at
// 255 stay clipped; none of them is among the low frequencies the model uses).

const BASE_LUMA_TABLES: readonly (readonly number[])[] = [
  [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
  Array.from({ length: 64 }, () => 16),
  [12, 17, 20, 21, 30, 34, 56, 63, 18, 20, 20, 26, 28, 51, 61, 55, 19, 20, 21, 26, 33, 58, 69, 55, 26, 26, 26, 30, 46, 87, 86, 66, 31, 33, 36, 40, 46, 96, 100, 73, 40, 35, 46, 62, 81, 100, 111, 91, 46, 66, 76, 86, 102, 121, 120, 101, 68, 90, 90, 96, 113, 102, 105, 103],
  [16, 16, 16, 18, 25, 37, 56, 85, 16, 17, 20, 27, 34, 40, 53, 75, 16, 20, 24, 31, 43, 62, 91, 135, 18, 27, 31, 40, 53, 74, 106, 156, 25, 34, 43, 53, 69, 94, 131, 189, 37, 40, 62, 74, 94, 124, 169, 238, 56, 53, 91, 106, 131, 169, 226, 255, 85, 75, 135, 156, 189, 238, 255, 255],
  [9, 10, 12, 14, 27, 32, 51, 62, 11, 12, 14, 19, 27, 44, 59, 73, 12, 14, 18, 25, 42, 59, 79, 78, 17, 18, 25, 42, 61, 92, 87, 92, 23, 28, 42, 75, 79, 112, 112, 99, 40, 42, 59, 84, 88, 124, 132, 111, 42, 64, 78, 95, 105, 126, 125, 99, 70, 75, 100, 102, 116, 100, 107, 98],
  [10, 12, 14, 19, 26, 38, 57, 86, 12, 18, 21, 28, 35, 41, 54, 76, 14, 21, 25, 32, 44, 63, 92, 136, 19, 28, 32, 41, 54, 75, 107, 157, 26, 35, 44, 54, 70, 95, 132, 190, 38, 41, 63, 75, 95, 125, 170, 239, 57, 54, 92, 107, 132, 170, 227, 255, 86, 76, 136, 157, 190, 239, 255, 255],
  [7, 8, 10, 14, 23, 44, 95, 241, 8, 8, 11, 15, 25, 47, 102, 255, 10, 11, 13, 19, 31, 58, 127, 255, 14, 15, 19, 27, 44, 83, 181, 255, 23, 25, 31, 44, 72, 136, 255, 255, 44, 47, 58, 83, 136, 255, 255, 255, 95, 102, 127, 181, 255, 255, 255, 255, 241, 255, 255, 255, 255, 255, 255, 255],
  [15, 11, 11, 12, 15, 19, 25, 32, 11, 13, 10, 10, 12, 15, 19, 24, 11, 10, 14, 14, 16, 18, 22, 27, 12, 10, 14, 18, 21, 24, 28, 33, 15, 12, 16, 21, 26, 31, 36, 42, 19, 15, 18, 24, 31, 38, 45, 53, 25, 19, 22, 28, 36, 45, 55, 65, 32, 24, 27, 33, 42, 53, 65, 77],
  [14, 10, 11, 14, 19, 25, 34, 45, 10, 11, 11, 12, 15, 20, 26, 33, 11, 11, 15, 18, 21, 25, 31, 38, 14, 12, 18, 24, 28, 33, 39, 47, 19, 15, 21, 28, 36, 43, 51, 59, 25, 20, 25, 33, 43, 54, 64, 74, 34, 26, 31, 39, 51, 64, 77, 91, 45, 33, 38, 47, 59, 74, 91, 108],
];

/** Number of table families known (`table` arguments 0 … TABLE_FAMILIES − 1). */
export const TABLE_FAMILIES = BASE_LUMA_TABLES.length;

/** The step at natural index `naturalIndex` of family `table` scaled to `quality`. */
export function standardLumaStep(quality: number, naturalIndex: number, table = 0): number {
  const scale = quality < 50 ? Math.floor(5000 / quality) : 200 - 2 * quality;
  const v = Math.floor((BASE_LUMA_TABLES[table]![naturalIndex]! * scale + 50) / 100);
  return Math.min(255, Math.max(1, v));
}

export interface QualityMatch {
  quality: number;
  table: number;
  /** Share of the steps the scaled table gives exactly. */
  agreement: number;
}

/** The quality and family that agree with the most of `steps` (natural index → step). */
export function matchQuality(steps: { index: number; step: number }[]): QualityMatch | undefined {
  if (steps.length === 0) return undefined;
  let best: QualityMatch | undefined;
  let bestAgree = -1;
  for (let table = 0; table < TABLE_FAMILIES; table++) {
    for (let q = 1; q <= 100; q++) {
      let agree = 0;
      for (const s of steps) if (standardLumaStep(q, s.index, table) === s.step) agree++;
      // ties go to Annex K (the common family, tried first) and, within a family, to the
      // higher quality: at the top of the range several qualities share steps
      if (agree > bestAgree || (agree === bestAgree && table === best!.table)) {
        bestAgree = agree;
        best = { quality: q, table, agreement: agree / steps.length };
      }
    }
  }
  return best;
}

/**
 * The quality whose table agrees with at least `minAgreement` of `steps`; undefined when none
 * does (a custom table, such as many cameras use, has no quality).
 */
export function estimateQuality(steps: { index: number; step: number }[], minAgreement = 0.75): number | undefined {
  const m = matchQuality(steps);
  return m && m.agreement >= minAgreement ? m.quality : undefined;
}
