// The five metadata detectors on a 12 MP phone JPEG carrying camera EXIF, an IFD1
// thumbnail and an XMP packet, beside sharp's own decode of the same file. Two cases:
// a genuine thumbnail (the common path) and a swapped one (the crop search runs).
// Intake is outside the timing; the first metadata read of each image is inside it.

import sharp from 'sharp';
import { aigcLabelDetector } from '../src/forensics/detectors/aigc-label.ts';
import { exifConsistencyDetector } from '../src/forensics/detectors/exif-consistency.ts';
import { exifThumbnailDetector } from '../src/forensics/detectors/exif-thumbnail.ts';
import { generatorMetadataDetector } from '../src/forensics/detectors/generator-metadata.ts';
import { iptcSourceDetector } from '../src/forensics/detectors/iptc-source.ts';
import { intakeImage } from '../src/forensics/intake.ts';
import { TAG, aigcLabel, aigcXmp, ascii, jpegWithExif, pictureJpeg, xmpSegment } from '../test/helpers/labels.ts';
import { median, photo12mp, sharpDecodeMs } from './photos.ts';

const DETECTORS = [aigcLabelDetector, iptcSourceDetector, generatorMetadataDetector, exifThumbnailDetector, exifConsistencyDetector];

async function detectorsMs(bytes: Buffer, runs = 5): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs + 1; i++) {
    const image = await intakeImage(bytes, { name: 'bench.jpg' });
    const t0 = performance.now();
    for (const d of DETECTORS) await d.run(image, {});
    if (i > 0) times.push(performance.now() - t0); // the first run warms up
  }
  return median(times);
}

export default async function (): Promise<Record<string, number>> {
  const photo = await photo12mp();
  const thumb = await sharp(photo).resize(160, 120, { fit: 'fill' }).jpeg({ quality: 75 }).toBuffer();
  const other = await pictureJpeg(160, 120, 99, 75);
  const exif = (thumbnail: Buffer) =>
    jpegWithExif(
      photo,
      {
        ifd0: { [TAG.Make]: ascii('BenchPhone'), [TAG.Model]: ascii('B-12'), [TAG.Software]: ascii('1.0') },
        exif: { [TAG.DateTimeOriginal]: ascii('2025:09:03 10:00:00') },
        thumbnail,
      },
      [xmpSegment(aigcXmp(aigcLabel()))],
    );
  const genuine = exif(thumb);
  const swapped = exif(other);
  const decode = await sharpDecodeMs(genuine, 5);
  const ms = await detectorsMs(genuine);
  const msSwapped = await detectorsMs(swapped);
  const ratio = ms / decode;
  console.log(
    `12 MP JPEG with EXIF, thumbnail and XMP: metadata detectors ${ms.toFixed(1)} ms (${msSwapped.toFixed(1)} ms with a swapped thumbnail), ` +
      `sharp decode ${decode.toFixed(0)} ms, ratio ${ratio.toFixed(3)}×`,
  );
  return {
    metadata_12mp_ms: round(ms),
    metadata_12mp_swapped_thumb_ms: round(msSwapped),
    metadata_12mp_ratio: round(ratio, 3),
  };
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
