// Whether an image file embeds an ICC colour profile, read from the container without a
// decoder (the hasher must know it on every image, and a libvips header parse costs more
// than the rest of hashing on small images). Returns undefined for containers not read here.

import type { ImageFormat } from '../types.ts';

export function embedsIccProfile(bytes: Uint8Array, format: ImageFormat): boolean | undefined {
  switch (format) {
    case 'jpeg': return jpegHasIcc(bytes);
    case 'png': return pngHasIcc(bytes);
    case 'webp': return webpHasIcc(bytes);
    default: return undefined;
  }
}

function ascii(b: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = off; i < off + len && i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}

/** APP2 segments starting "ICC_PROFILE\0", before the first scan. */
function jpegHasIcc(b: Uint8Array): boolean | undefined {
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return undefined; // not a marker where one must be: let the decoder decide
    const marker = b[i + 1]!;
    if (marker === 0xff) { i++; continue; } // fill byte
    if (marker === 0xda || marker === 0xd9) return false; // start of scan / end of image
    if (marker >= 0xd0 && marker <= 0xd7) { i += 2; continue; } // RST markers carry no length
    const len = (b[i + 2]! << 8) | b[i + 3]!;
    if (len < 2) return undefined;
    if (marker === 0xe2 && ascii(b, i + 4, 12) === 'ICC_PROFILE\0') return true;
    i += 2 + len;
  }
  return undefined;
}

/** An iCCP chunk before the image data. */
function pngHasIcc(b: Uint8Array): boolean | undefined {
  let i = 8;
  while (i + 8 <= b.length) {
    const len = ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
    const type = ascii(b, i + 4, 4);
    if (type === 'iCCP') return true;
    if (type === 'IDAT' || type === 'IEND') return false;
    i += 12 + len;
  }
  return undefined;
}

/** The ICC flag of a VP8X header (simple VP8/VP8L files cannot carry a profile). */
function webpHasIcc(b: Uint8Array): boolean | undefined {
  if (b.length < 21) return undefined;
  const chunk = ascii(b, 12, 4);
  if (chunk === 'VP8X') return (b[20]! & 0x20) !== 0;
  if (chunk === 'VP8 ' || chunk === 'VP8L') return false;
  return undefined;
}
