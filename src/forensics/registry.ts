// The one place where detectors are registered. To add a detector: write one module
// under src/forensics/detectors/ that exports a `Detector`, and add it to this list.

import type { Detector } from './types.ts';
import { c2paDetector } from './detectors/c2pa.ts';
import { aigcLabelDetector } from './detectors/aigc-label.ts';
import { iptcSourceDetector } from './detectors/iptc-source.ts';
import { generatorMetadataDetector } from './detectors/generator-metadata.ts';
import { exifThumbnailDetector } from './detectors/exif-thumbnail.ts';
import { exifConsistencyDetector } from './detectors/exif-consistency.ts';
import { reuseDetector } from './detectors/reuse.ts';
import { referenceDetector } from './detectors/reference.ts';
import { jpegCompressionDetector } from './detectors/jpeg-compression.ts';

export const DETECTORS: readonly Detector[] = [
  c2paDetector,
  aigcLabelDetector,
  iptcSourceDetector,
  generatorMetadataDetector,
  exifThumbnailDetector,
  exifConsistencyDetector,
  reuseDetector,
  referenceDetector,
  jpegCompressionDetector,
];
