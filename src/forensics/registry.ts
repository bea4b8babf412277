// The one place where detectors are registered. To add a detector: write one module
// under src/forensics/detectors/ that exports a `Detector`, and add it to this list.

import type { Detector } from './types.ts';
import { c2paDetector } from './detectors/c2pa.ts';

export const DETECTORS: readonly Detector[] = [
  c2paDetector,
];
