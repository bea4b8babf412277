// A heatmap for a signal's evidence: grey levels (brighter = stronger) as a PNG, the shape
// every detector's heatmap has (types.ts) and the console stretches over the photo.

import sharp from 'sharp';
import type { Heatmap } from './types.ts';

export async function greyHeatmap(grey: Uint8Array, width: number, height: number): Promise<Heatmap> {
  const png = await sharp(grey, { raw: { width, height, channels: 1 } }).png({ compressionLevel: 6 }).toBuffer();
  return { width, height, mime: 'image/png', data: png.toString('base64') };
}
