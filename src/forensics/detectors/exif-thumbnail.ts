// EXIF thumbnail check. Cameras store a small preview (IFD1) of the shot next to the
// EXIF data. Many editors rewrite the main picture but leave the old preview, so a
// preview that shows a different picture is a classic trace of editing (or of a file
// assembled from two photos). Silent when there is no thumbnail or when it matches.

import sharp from 'sharp';
import exifr from 'exifr';
import { round, signal } from '../signal.ts';
import type { DecodedImage, Detector, Signal } from '../types.ts';
import { compareThumbnail, findCrop, thumbnailVariants, type CropMatch, type GrayImage, type ThumbnailComparison } from './thumbnail-compare.ts';

/** Below this similarity the thumbnail shows another picture (genuine camera thumbnails score ≥ 0.9 on the shared fixtures, unrelated photo pairs ≤ 0.6). */
export const MISMATCH_BELOW = 0.65;
/** Between MISMATCH_BELOW and this, the thumbnail differs more than a camera's would. */
export const DOUBTFUL_BELOW = 0.8;
/** Grid contrast (grey-level std) under which a picture is too flat for correlation. */
const FLAT_CONTRAST = 6;
/** Mean grey-level difference that flat pictures must exceed to count as different. */
const FLAT_MEAN_DIFF = 60;
const MAIN_SAMPLE_SIDE = 128;
/** A window of the thumbnail this close to the main picture means the photo was cropped (eval: true crops ≥ 0.96, swapped thumbnails ≤ 0.87). */
export const CROP_MATCH = 0.92;
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

/**
 * The main picture, oriented as a viewer sees it, shrunk to ≤ 128 px grey. Intake has
 * already decoded the pixels; each output pixel averages a 4×4 lattice of samples
 * spread over its block, which is plenty for a 24×24 comparison grid and costs a few
 * milliseconds even on 50 MP (a full resample of the raw pixels costs far more).
 */
async function mainGray(image: DecodedImage): Promise<GrayImage> {
  const p = await image.rgb();
  const scale = Math.min(1, MAIN_SAMPLE_SIDE / Math.max(p.width, p.height));
  const w = Math.max(1, Math.round(p.width * scale));
  const h = Math.max(1, Math.round(p.height * scale));
  const out = new Float32Array(w * h);
  const bw = p.width / w;
  const bh = p.height / h;
  const S = 4;
  const c = p.channels;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let sum = 0;
      for (let j = 0; j < S; j++) {
        const sy = Math.min(p.height - 1, Math.floor((y + (j + 0.5) / S) * bh));
        for (let i = 0; i < S; i++) {
          const sx = Math.min(p.width - 1, Math.floor((x + (i + 0.5) / S) * bw));
          const o = (sy * p.width + sx) * c;
          // Rec. 601 luma, as the thumbnail's greyscale conversion uses.
          sum += c >= 3 ? 0.299 * p.data[o]! + 0.587 * p.data[o + 1]! + 0.114 * p.data[o + 2]! : p.data[o]!;
        }
      }
      out[y * w + x] = sum / (S * S);
    }
  }
  return { data: out, width: w, height: h };
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
    const variants = thumbnailVariants(image.orientation);
    const c = compareThumbnail(thumb, main, variants);
    const outcome = judge(c);
    if (outcome === 'match' || outcome === 'flat_match') return [];
    // Before calling it another picture: is the photo a crop of the captured scene?
    let crop: CropMatch | undefined;
    let cropSearch: number | undefined;
    if (outcome === 'mismatch' || outcome === 'doubtful') {
      const found = findCrop(thumb, main, variants);
      cropSearch = found?.similarity;
      if (found && found.similarity >= CROP_MATCH) crop = found;
    }
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
      // Best match of the main picture with any window of the thumbnail (crop search).
      ...(cropSearch !== undefined ? { cropSearchSimilarity: round(cropSearch), cropMatchAtLeast: CROP_MATCH } : {}),
    };
    const pct = Math.round(Math.max(0, c.similarity) * 100);
    if (crop) {
      const kept = Math.round(crop.areaFraction * 100);
      return [
        signal(
          'exif.thumbnail_mismatch',
          'suspicious',
          0.3,
          0.7,
          {
            en: `The main image is a crop of the picture in the embedded EXIF thumbnail: about ${kept}% of the captured scene was kept (match ${Math.round(crop.similarity * 100)}%).`,
            zh: `主图是内嵌 EXIF 缩略图画面的裁剪：仅保留了拍摄画面的约 ${kept}%（匹配度 ${Math.round(crop.similarity * 100)}%）。`,
          },
          {
            ...evidence,
            outcome: 'cropped',
            crop: { similarity: round(crop.similarity), window: crop.window, areaFraction: round(crop.areaFraction), variant: crop.variant },
          },
          {
            en: 'The photo was cropped after capture by software that kept the camera thumbnail. Cropping is common and harmless, but it can also cut away context (another item, a label); the thumbnail shows what was removed.',
            zh: '照片在拍摄后被裁剪，编辑软件保留了相机缩略图。裁剪很常见，通常无害，但也可能裁掉了背景信息（其他商品、标签等）；缩略图显示了被裁掉的部分。',
          },
        ),
      ];
    }
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
