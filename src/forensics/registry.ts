// The one place where detectors are registered. To add a detector: write one module
// under src/forensics/detectors/ that exports a `Detector`, and add it to this list.

import type { Detector } from './types.ts';

export const DETECTORS: readonly Detector[] = [
];
