// Real photos for benchmarks, made from ../shared at run time (never committed).

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const here = dirname(fileURLToPath(import.meta.url));
export const SHARED = process.env.CLAIMLENS_SHARED ? resolve(process.env.CLAIMLENS_SHARED) : resolve(here, '..', '..', 'shared');

let cached12: Buffer | undefined;
/**
 * A 12-megapixel (4000×3000) phone-like JPEG at quality 92, made from the 9 MP Nokia phone
 * photo in ../shared with mild sensor-like noise added (deterministic), so that its size
 * and entropy are those of a real phone photo (about 3–5 MB), not of a smooth upscale.
 */
export async function photo12mp(): Promise<Buffer> {
  if (cached12) return cached12;
  const { data, info } = await sharp(readFileSync(resolve(SHARED, 'fixtures/camera/nokia83_9mp.jpg')))
    .rotate()
    .resize(4000, 3000, { fit: 'cover' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  let seed = 12345;
  for (let i = 0; i < data.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const n = ((seed >>> 16) & 15) - 7.5; // uniform noise, σ ≈ 4.6
    const v = data[i]! + n;
    data[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  cached12 = await sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } })
    .jpeg({ quality: 92, chromaSubsampling: '4:2:0' })
    .toBuffer();
  return cached12;
}

/** Median of sharp's full decode time (to raw RGB) of `bytes`, in ms. */
export async function sharpDecodeMs(bytes: Buffer, runs = 5): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await sharp(bytes).rotate().raw().toBuffer();
    times.push(performance.now() - t0);
  }
  return median(times);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
