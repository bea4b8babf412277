// Working-resolution copies of images for the reference check. Everything geometric and
// photometric runs on these (long side bounded), and results are mapped back to the
// analysed image's full-resolution, oriented coordinates by `scale`.

import sharp from 'sharp';
import type { DecodedImage, RawPixels } from '../types.ts';

export interface WorkingImage {
  /** Interleaved RGB, 8 bit. */
  rgb: Uint8Array;
  /** Luma, 8 bit. */
  gray: Uint8Array;
  width: number;
  height: number;
  /** Full-resolution pixels per working pixel (≥ 1 when downscaled, < 1 when upscaled). */
  scale: number;
}

/**
 * Resizes oriented RGB pixels so that the long side is at most `maxSide` and, when
 * `minSide` is given, at least `minSide` (small listing photos are upscaled so that feature
 * detectors find enough corners).
 */
export async function workingFromPixels(p: RawPixels, maxSide: number, minSide = 0): Promise<WorkingImage> {
  const long = Math.max(p.width, p.height);
  let target = long;
  if (long > maxSide) target = maxSide;
  else if (long < minSide) target = minSide;
  const k = target / long;
  const width = Math.max(1, Math.round(p.width * k));
  const height = Math.max(1, Math.round(p.height * k));
  let rgb: Uint8Array;
  if (width === p.width && height === p.height && p.channels === 3) rgb = p.data;
  else {
    const buf = await sharp(p.data, { raw: { width: p.width, height: p.height, channels: p.channels } })
      .removeAlpha()
      .resize(width, height, { fit: 'fill', kernel: k < 1 ? 'lanczos3' : 'cubic' })
      .raw()
      .toBuffer();
    rgb = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
    if (p.channels === 1) rgb = grayToRgb(rgb, width * height);
  }
  return { rgb, gray: luma(rgb, width * height), width, height, scale: p.width / width };
}

export async function workingImage(image: DecodedImage, maxSide: number, minSide = 0): Promise<WorkingImage> {
  const long = Math.max(image.width, image.height);
  if (long > 2 * maxSide && (image.format === 'jpeg' || image.format === 'webp' || image.format === 'png')) {
    // Large photo: let libvips shrink while decoding (JPEG scales in the DCT domain), which
    // costs a fraction of resizing the already decoded full-resolution pixels. `.rotate()`
    // applies EXIF orientation exactly as intake did, so coordinates agree.
    try {
      const k = maxSide / long;
      const width = Math.max(1, Math.round(image.width * k));
      const height = Math.max(1, Math.round(image.height * k));
      const buf = await sharp(image.bytes, { failOn: 'none' })
        .rotate()
        .toColourspace('srgb')
        .removeAlpha()
        .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
        .raw()
        .toBuffer();
      if (buf.length === width * height * 3) {
        const rgb = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
        return { rgb, gray: luma(rgb, width * height), width, height, scale: image.width / width };
      }
    } catch {
      // fall through to the decoded pixels
    }
  }
  return workingFromPixels(await image.rgb(), maxSide, minSide);
}

function grayToRgb(g: Uint8Array, n: number): Uint8Array {
  if (g.length === n * 3) return g;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = g[i]!;
  return out;
}

export function luma(rgb: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 3) out[i] = (rgb[j]! * 299 + rgb[j + 1]! * 587 + rgb[j + 2]! * 114 + 500) / 1000;
  return out;
}

/** Mirror left–right (x → width−1−x). */
export function mirrorGray(g: Uint8Array, width: number, height: number): Uint8Array {
  const out = new Uint8Array(g.length);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) out[row + x] = g[row + width - 1 - x]!;
  }
  return out;
}
