// Cheap structural scan for an embedded C2PA manifest store, done before the (much
// heavier) C2PA library is asked to parse and validate anything. It walks only the
// container structure — JPEG marker segments up to the start of scan, PNG chunk headers,
// RIFF chunk headers, ISO-BMFF top-level box headers — so its cost grows with the number
// of segments, never with the number of pixels: a 12 MP JPEG without C2PA costs a few
// dozen header reads.

import type { ImageFormat } from '../types.ts';

/** Where the manifest store sits in the file. */
export type C2paContainerKind = 'jpeg-app11' | 'png-caBX' | 'webp-C2PA' | 'bmff-uuid';

export interface ByteRange {
  offset: number;
  length: number;
}

/** A JPEG marker segment before the image data (offsets include the 0xFF marker bytes). */
export interface JpegSegment extends ByteRange {
  marker: number;
  /** True for APP11 segments carrying a C2PA JUMBF box. */
  c2pa: boolean;
}

export interface C2paContainer {
  kind: C2paContainerKind;
  /** The byte ranges (whole segments / chunks / boxes) that hold the manifest store. */
  ranges: ByteRange[];
  /** JPEG only: all marker segments before SOS, for judging hash exclusions. */
  jpegSegments?: JpegSegment[];
}

/** ISO/IEC 19566-5 JUMBF in a C2PA BMFF `uuid` box: d8fec3d6-1b0e-483c-9297-5828877ec481. */
const C2PA_BMFF_UUID = [0xd8, 0xfe, 0xc3, 0xd6, 0x1b, 0x0e, 0x48, 0x3c, 0x92, 0x97, 0x58, 0x28, 0x87, 0x7e, 0xc4, 0x81];

/** Finds an embedded C2PA manifest store; undefined when the file has none. Never throws. */
export function findC2paContainer(bytes: Uint8Array, format: ImageFormat): C2paContainer | undefined {
  try {
    switch (format) {
      case 'jpeg':
        return scanJpeg(bytes);
      case 'png':
        return scanPng(bytes);
      case 'webp':
        return scanWebp(bytes);
      case 'heif':
      case 'avif':
        return scanBmff(bytes);
      default:
        return undefined;
    }
  } catch {
    // Structural oddities are the intake's business; here they simply mean "no store found".
    return undefined;
  }
}

/** Lists JPEG marker segments from SOI up to SOS (exclusive). */
export function jpegSegments(b: Uint8Array): JpegSegment[] {
  const out: JpegSegment[] = [];
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return out;
  let p = 2;
  while (p + 4 <= b.length) {
    if (b[p] !== 0xff) break;
    const marker = b[p + 1]!;
    if (marker === 0xff) {
      p += 1; // fill byte
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) break; // EOI or start of scan: no more metadata
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      p += 2; // parameterless markers
      continue;
    }
    const len = (b[p + 2]! << 8) | b[p + 3]!;
    if (len < 2 || p + 2 + len > b.length) break;
    out.push({ offset: p, length: len + 2, marker, c2pa: marker === 0xeb && isC2paApp11(b, p + 4, len - 2) });
    p += 2 + len;
  }
  return out;
}

/**
 * APP11 payload of a JUMBF segment: CI "JP", En (2), Z (4), then the box header
 * LBox (4) + TBox "jumb". Only the first segment of a box carries the "c2pa" description
 * label, but continuation segments repeat the same header, so checking "JP" + "jumb" is
 * enough to attribute every segment; a store must additionally be labelled "c2pa" in
 * at least one segment (checked by the caller).
 */
function isC2paApp11(b: Uint8Array, start: number, len: number): boolean {
  if (len < 16) return false;
  return b[start] === 0x4a && b[start + 1] === 0x50 && ascii(b, start + 12, 4) === 'jumb';
}

function scanJpeg(b: Uint8Array): C2paContainer | undefined {
  const segs = jpegSegments(b);
  const c2pa = segs.filter((s) => s.c2pa);
  if (c2pa.length === 0) return undefined;
  // At least one segment must carry the C2PA manifest-store label within its first bytes.
  const labelled = c2pa.some((s) => indexOfAscii(b, 'c2pa', s.offset + 4, Math.min(s.offset + s.length, s.offset + 80)) >= 0);
  if (!labelled) return undefined;
  return { kind: 'jpeg-app11', ranges: c2pa.map(({ offset, length }) => ({ offset, length })), jpegSegments: segs };
}

function scanPng(b: Uint8Array): C2paContainer | undefined {
  const ranges: ByteRange[] = [];
  let p = 8;
  while (p + 12 <= b.length) {
    const len = readU32(b, p);
    const type = ascii(b, p + 4, 4);
    const total = 12 + len;
    if (p + total > b.length) break;
    if (type === 'caBX') ranges.push({ offset: p, length: total });
    if (type === 'IEND') break;
    p += total;
  }
  return ranges.length ? { kind: 'png-caBX', ranges } : undefined;
}

function scanWebp(b: Uint8Array): C2paContainer | undefined {
  const ranges: ByteRange[] = [];
  const end = Math.min(b.length, 8 + readU32le(b, 4));
  let p = 12;
  while (p + 8 <= end) {
    const type = ascii(b, p, 4);
    const len = readU32le(b, p + 4);
    const total = 8 + len + (len & 1);
    if (type === 'C2PA') ranges.push({ offset: p, length: Math.min(total, end - p) });
    if (total <= 8 && len !== 0) break;
    p += total;
  }
  return ranges.length ? { kind: 'webp-C2PA', ranges } : undefined;
}

function scanBmff(b: Uint8Array): C2paContainer | undefined {
  const ranges: ByteRange[] = [];
  let p = 0;
  while (p + 8 <= b.length) {
    let size = readU32(b, p);
    const type = ascii(b, p + 4, 4);
    let header = 8;
    if (size === 1) {
      if (p + 16 > b.length) break;
      const hi = readU32(b, p + 8);
      const lo = readU32(b, p + 12);
      size = hi * 2 ** 32 + lo;
      header = 16;
    } else if (size === 0) {
      size = b.length - p;
    }
    if (size < header) break;
    if (type === 'uuid' && p + header + 16 <= b.length && C2PA_BMFF_UUID.every((v, i) => b[p + header + i] === v)) {
      ranges.push({ offset: p, length: Math.min(size, b.length - p) });
    }
    p += size;
  }
  return ranges.length ? { kind: 'bmff-uuid', ranges } : undefined;
}

function ascii(b: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = 0; i < len && off + i < b.length; i++) s += String.fromCharCode(b[off + i]!);
  return s;
}

function indexOfAscii(b: Uint8Array, needle: string, from: number, to: number): number {
  outer: for (let i = from; i + needle.length <= to; i++) {
    for (let j = 0; j < needle.length; j++) if (b[i + j] !== needle.charCodeAt(j)) continue outer;
    return i;
  }
  return -1;
}

function readU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) >>> 0) + (b[off + 1]! << 16) + (b[off + 2]! << 8) + b[off + 3]!;
}

function readU32le(b: Uint8Array, off: number): number {
  return b[off]! + (b[off + 1]! << 8) + (b[off + 2]! << 16) + ((b[off + 3]! << 24) >>> 0);
}
