// EXIF thumbnail check. Cameras store a small preview (IFD1) of the shot next to the
// EXIF data. Many editors rewrite the main picture but leave the old preview, so a
// preview that shows a different picture is a classic trace of editing (or of a file
// assembled from two photos). Silent when there is no thumbnail or when it matches.

import sharp from 'sharp';
import exifr from 'exifr';
import { round, signal } from '../signal.ts';
import type { DecodedImage, Detector, Signal } from '../types.ts';
import { compareThumbnail, thumbnailVariants, type GrayImage, type ThumbnailComparison } from './thumbnail-compare.ts';

/** Below this similarity the thumbnail shows another picture (genuine camera thumbnails score ≥ 0.9 on the shared fixtures, unrelated photo pairs ≤ 0.6). */
export const MISMATCH_BELOW = 0.65;
/** Between MISMATCH_BELOW and this, the thumbnail differs more than a camera's would. */
export const DOUBTFUL_BELOW = 0.8;
/** Grid contrast (grey-level std) under which a picture is too flat for correlation. */
const FLAT_CONTRAST = 6;
/** Mean grey-level difference that flat pictures must exceed to count as different. */
const FLAT_MEAN_DIFF = 60;
const MAIN_SAMPLE_SIDE = 128;
/** An EXIF thumbnail fits in a 64 KB APP1 segment; anything decoding larger is not one. */
const MAX_THUMB_PIXELS = 2_000_000;

export async function readThumbnail(bytes: Uint8Array): Promise<Uint8Array | undefined> {
  try {
    const t = await exifr.thumbnail(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
    return t && t.length > 0 ? t : undefined;
  } catch {
    return undefined;
  }
}

async function thumbnailGray(thumb: Uint8Array): Promise<(GrayImage & { width: number; height: number; sourceWidth: number; sourceHeight: number }) | undefined> {
  try {
    const s = sharp(thumb, { limitInputPixels: MAX_THUMB_PIXELS, failOn: 'none' });
    const meta = await s.metadata();
    const { data, info } = await s
      .resize(256, 256, { fit: 'inside', withoutEnlargement: true })
      .greyscale()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 1) return undefined;
    return { data, width: info.width, height: info.height, sourceWidth: meta.width ?? info.width, sourceHeight: meta.height ?? info.height };
  } catch {
    return undefined;
  }
}

/** The main picture, oriented as a viewer sees it, downscaled to ≤ 128 px. */
async function mainGray(image: DecodedImage): Promise<GrayImage> {
  if (image.format === 'jpeg') {
    try {
      // JPEG shrink-on-load makes this far cheaper than a full decode.
      const { data, info } = await sharp(image.bytes, { failOn: 'none', limitInputPixels: false })
        .rotate()
        .resize(MAIN_SAMPLE_SIDE, MAIN_SAMPLE_SIDE, { fit: 'inside' })
        .greyscale()
        .raw()
        .toBuffer({ resolveWithObject: true });
      if (info.channels === 1) return { data, width: info.width, height: info.height };
    } catch {
      // fall through to the engine's own decode
    }
  }
  const g = await image.gray();
  const { data, info } = await sharp(g.data, { raw: { width: g.width, height: g.height, channels: g.channels } })
    .resize(MAIN_SAMPLE_SIDE, MAIN_SAMPLE_SIDE, { fit: 'inside' })
    .greyscale()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

export interface ThumbnailVerdict {
  outcome: 'match' | 'mismatch' | 'doubtful' | 'flat_match' | 'flat_mismatch';
  comparison: ThumbnailComparison;
}

export function judge(c: ThumbnailComparison): ThumbnailVerdict['outcome'] {
  const flat = c.thumbnailContrast < FLAT_CONTRAST || c.mainContrast < FLAT_CONTRAST;
  if (flat) {
    // Correlation means nothing on a flat (e.g. very dark) picture: compare brightness.
    const bothFlat = c.thumbnailContrast < FLAT_CONTRAST && c.mainContrast < FLAT_CONTRAST;
    if (bothFlat && Math.abs(c.thumbnailMean - c.mainMean) <= FLAT_MEAN_DIFF) return 'flat_match';
    if (bothFlat) return 'flat_mismatch';
    // One flat, the other detailed: a placeholder preview or another picture.
    return c.similarity >= DOUBTFUL_BELOW ? 'match' : 'flat_mismatch';
  }
  if (c.similarity < MISMATCH_BELOW) return 'mismatch';
  if (c.similarity < DOUBTFUL_BELOW) return 'doubtful';
  return 'match';
}

export const exifThumbnailDetector: Detector = {
  id: 'exif.thumbnail_mismatch',
  version: '1.0.0',
  async run(image: DecodedImage): Promise<Signal[]> {
    if (image.format === 'png') return []; // PNG has no IFD1 thumbnail in practice
    const thumbBytes = await readThumbnail(image.bytes);
    if (!thumbBytes) return [];
    const thumb = await thumbnailGray(thumbBytes);
    if (!thumb) return [];
    const main = await mainGray(image);
    const c = compareThumbnail(thumb, main, thumbnailVariants(image.orientation));
    const outcome = judge(c);
    if (outcome === 'match' || outcome === 'flat_match') return [];
    const evidence = {
      tags: ['exif:IFD1:ThumbnailImage'],
      similarity: round(c.similarity),
      mismatchBelow: MISMATCH_BELOW,
      doubtfulBelow: DOUBTFUL_BELOW,
      outcome,
      thumbnail: {
        width: thumb.sourceWidth,
        height: thumb.sourceHeight,
        bytes: thumbBytes.length,
        mime: 'image/jpeg',
        // Small (a few KB): lets a reviewer see the picture the camera preview shows.
        data: thumbBytes.length <= 64 * 1024 ? Buffer.from(thumbBytes).toString('base64') : undefined,
      },
      main: { width: image.width, height: image.height },
      bestAlignment: { variant: c.variant, framing: c.framing, trimmedBands: c.trimmed },
      contrast: { thumbnail: round(c.thumbnailContrast, 1), main: round(c.mainContrast, 1) },
      meanGrey: { thumbnail: round(c.thumbnailMean, 1), main: round(c.mainMean, 1) },
    };
    const pct = Math.round(Math.max(0, c.similarity) * 100);
    if (outcome === 'mismatch') {
      const score = Math.min(0.95, 0.6 + (MISMATCH_BELOW - c.similarity));
      return [
        signal(
          'exif.thumbnail_mismatch',
          'tampered',
          score,
          0.85,
          {
            en: `The embedded EXIF thumbnail (${thumb.sourceWidth}×${thumb.sourceHeight}) shows a different picture than the main image (similarity ${pct}%, genuine camera thumbnails score above 90%).`,
            zh: `内嵌的 EXIF 缩略图（${thumb.sourceWidth}×${thumb.sourceHeight}）与主图内容不同（相似度 ${pct}%，相机原生缩略图一般高于 90%）。`,
          },
          evidence,
          {
            en: 'The camera wrote the thumbnail and the photo at the same moment. When they show different pictures, the main picture was replaced or edited afterwards by software that kept the old thumbnail.',
            zh: '相机在拍摄时同时写入缩略图和照片。两者内容不同，说明主图在之后被替换或编辑，而编辑软件保留了旧的缩略图。',
          },
        ),
      ];
    }
    const flat = outcome === 'flat_mismatch';
    return [
      signal(
        'exif.thumbnail_mismatch',
        'suspicious',
        flat ? 0.3 : 0.35,
        0.6,
        {
          en: flat
            ? `The embedded EXIF thumbnail and the main image differ in brightness or detail in a way a camera preview would not (similarity ${pct}%).`
            : `The embedded EXIF thumbnail only partly matches the main image (similarity ${pct}%; genuine camera thumbnails score above 90%).`,
          zh: flat
            ? `内嵌的 EXIF 缩略图与主图在亮度或细节上的差异超出相机预览的正常范围（相似度 ${pct}%）。`
            : `内嵌的 EXIF 缩略图与主图仅部分相符（相似度 ${pct}%；相机原生缩略图一般高于 90%）。`,
        },
        evidence,
        {
          en: 'A thumbnail that drifts from the main picture suggests the photo was cropped, retouched or re-saved after capture; compare the two by eye.',
          zh: '缩略图与主图不一致，说明照片在拍摄后可能被裁剪、修饰或重新保存；请人工对比两者。',
        },
      ),
    ];
  },
};
