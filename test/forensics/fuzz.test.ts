// Fuzz-style robustness test of intake + the full engine (every registered detector).
//
// Seeds are small images built from the real metadata of the shared fixtures (EXIF with
// thumbnail and GPS, XMP labels, C2PA JUMBF, PNG text and caBX chunks, HEIF, WebP and
// AVIF made here with sharp). A seeded PRNG mutates them thousands of times (bit flips,
// overwritten runs, truncation, insertions, duplicated segments, corrupted length
// fields, huge IFD offsets/counts, huge PNG chunk lengths, zTXt bombs, huge declared
// dimensions) and every file goes through `analyzeBytes`.
//
// The analysis runs in a child process (this same file with CLAIMLENS_FUZZ_CHILD set)
// so that a synchronous hang (a parser loop, a WebAssembly decode) or a hard crash is
// seen by the parent's watchdog instead of freezing the test runner. The child reports
// after every file; the parent asserts: no exception escaped analyzeBytes, no
// unhandled rejection or uncaught exception, every refusal is an `error` entry with a
// known code, every report is well formed and JSON-serialisable, no file took longer
// than the per-file bound, and the child's memory stayed bounded.
//
// Reproduce one case: CLAIMLENS_FUZZ_CHILD=1 CLAIMLENS_FUZZ_ONLY=<index> \
//   CLAIMLENS_FUZZ_DUMP=/tmp/case.bin node --import tsx test/forensics/fuzz.test.ts
// Knobs: CLAIMLENS_FUZZ_CASES (default 3000), CLAIMLENS_FUZZ_SEED, CLAIMLENS_FUZZ_BUDGET_S.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { performance } from 'node:perf_hooks';
import type { AnalysisContext, Detector, ReferenceMedia, ReuseLookup } from '../../src/forensics/types.ts';

const CASES = Number(process.env.CLAIMLENS_FUZZ_CASES ?? 3000);
const SEED = Number(process.env.CLAIMLENS_FUZZ_SEED ?? 20251123);
/** The child stops starting new cases after this many seconds (keeps `npm test` bounded as detectors grow). */
const BUDGET_S = Number(process.env.CLAIMLENS_FUZZ_BUDGET_S ?? 90);
/** Below this many processed cases the run is too thin to mean anything. */
const MIN_CASES = Math.min(CASES, 1000);
/** No single file may take longer than this (generous: the machine is shared). */
const PER_FILE_LIMIT_MS = 15_000;
/** Resident memory of the analysing process must stay under this. */
const MAX_RSS = 1024 * 1024 * 1024;
/** …and must not grow by more than this between the end of warm-up and the end of the run. */
const MAX_RSS_GROWTH = 320 * 1024 * 1024;

const KNOWN_ERROR_CODES = new Set([
  'empty_file', 'too_large', 'unsupported_format', 'format_mismatch', 'pixel_limit',
  'truncated', 'corrupt', 'decode_timeout', 'read_failed',
]);
const SIGNAL_VERDICTS = new Set(['tampered', 'ai_generated', 'suspicious', 'info']);
const IMAGE_VERDICTS = new Set(['clean', 'suspicious', 'tampered', 'ai_generated']);

// ---------------------------------------------------------------- PRNG (mulberry32)

export type Rng = () => number;
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const int = (rng: Rng, n: number) => Math.floor(rng() * n);
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[int(rng, xs.length)]!;
function randomBytes(rng: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = int(rng, 256);
  return out;
}
function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
const u32be = (v: number) => new Uint8Array([(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);
const u16be = (v: number) => new Uint8Array([(v >>> 8) & 255, v & 255]);
const latin1 = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
function findBytes(hay: Uint8Array, needle: string, from = 0): number {
  return Buffer.from(hay.buffer, hay.byteOffset, hay.length).indexOf(needle, from, 'latin1');
}

// ---------------------------------------------------------------- container structure

interface Part {
  start: number;
  end: number;
  /** offset of the length field */
  lenAt: number;
  type: string;
}

/** JPEG marker segments before the scan (APPn, DQT, SOF, DHT …). */
export function jpegSegments(b: Uint8Array): Part[] {
  const out: Part[] = [];
  let off = 2;
  while (off + 4 <= b.length && b[off] === 0xff) {
    const m = b[off + 1]!;
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) {
      off += 2;
      continue;
    }
    const len = (b[off + 2]! << 8) | b[off + 3]!;
    out.push({ start: off, end: Math.min(b.length, off + 2 + len), lenAt: off + 2, type: m.toString(16) });
    if (m === 0xda) break;
    off += 2 + len;
  }
  return out;
}

/** PNG chunks (length, type, data, CRC). */
export function pngChunks(b: Uint8Array): Part[] {
  const out: Part[] = [];
  let off = 8;
  while (off + 12 <= b.length) {
    const len = ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
    const type = String.fromCharCode(b[off + 4]!, b[off + 5]!, b[off + 6]!, b[off + 7]!);
    const end = off + 12 + len;
    if (end > b.length) break;
    out.push({ start: off, end, lenAt: off, type });
    if (type === 'IEND') break;
    off = end;
  }
  return out;
}

/** RIFF chunks of a WebP file. */
function riffChunks(b: Uint8Array): Part[] {
  const out: Part[] = [];
  let off = 12;
  while (off + 8 <= b.length) {
    const len = (b[off + 4]! | (b[off + 5]! << 8) | (b[off + 6]! << 16) | (b[off + 7]! << 24)) >>> 0;
    const type = String.fromCharCode(b[off]!, b[off + 1]!, b[off + 2]!, b[off + 3]!);
    const end = off + 8 + len + (len & 1);
    out.push({ start: off, end: Math.min(end, b.length), lenAt: off + 4, type });
    if (out.length > 1000) break;
    off = end;
  }
  return out;
}

/** ISO-BMFF boxes, walking into the containers where HEIF keeps its item properties. */
function bmffBoxes(b: Uint8Array, from = 0, to = b.length, depth = 0, out: Part[] = []): Part[] {
  let off = from;
  while (off + 8 <= to && depth < 6) {
    const size = ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
    const type = String.fromCharCode(b[off + 4]!, b[off + 5]!, b[off + 6]!, b[off + 7]!);
    if (size < 8 || off + size > to) break;
    out.push({ start: off, end: off + size, lenAt: off, type });
    if (type === 'meta') bmffBoxes(b, off + 12, off + size, depth + 1, out);
    else if (type === 'iprp' || type === 'ipco' || type === 'dinf' || type === 'iinf') bmffBoxes(b, off + 8, off + size, depth + 1, out);
    off += size;
  }
  return out;
}

function pngChunk(type: string, data: Uint8Array): Uint8Array {
  // CRC deliberately zero: decoders must cope with bad CRCs anyway, and some mutations break it.
  return concat(u32be(data.length), latin1(type), data, u32be(0));
}

function insertAt(b: Uint8Array, at: number, ins: Uint8Array): Uint8Array {
  return concat(b.subarray(0, at), ins, b.subarray(at));
}

// ---------------------------------------------------------------- mutations

type Mutator = (b: Uint8Array, rng: Rng, kind: SeedKind) => Uint8Array;
type SeedKind = 'jpeg' | 'png' | 'webp' | 'heif' | 'avif';

const HUGE_U32 = [0xffffffff, 0x7fffffff, 0x80000000, 0xfffffff0, 0x10000000, 0x00ffffff];
const HUGE_U16 = [0xffff, 0xfffe, 0x8000, 0x7fff, 0, 1];

const generic: Record<string, Mutator> = {
  bitFlips(b, rng) {
    const out = b.slice();
    const n = 1 + int(rng, 16);
    for (let i = 0; i < n; i++) out[int(rng, out.length)]! ^= 1 << int(rng, 8);
    return out;
  },
  overwriteRun(b, rng) {
    const out = b.slice();
    const len = 1 + int(rng, Math.min(256, out.length));
    const at = int(rng, out.length);
    const fill = pick(rng, [0x00, 0xff, -1]);
    for (let i = at; i < Math.min(out.length, at + len); i++) out[i] = fill < 0 ? int(rng, 256) : fill;
    return out;
  },
  truncate(b, rng) {
    // Favour the header region, where parsers make their decisions.
    const at = rng() < 0.5 ? int(rng, Math.min(b.length, 2048)) : int(rng, b.length);
    return b.slice(0, at);
  },
  insertRandom(b, rng) {
    return insertAt(b, int(rng, b.length), randomBytes(rng, 1 + int(rng, 512)));
  },
  deleteRange(b, rng) {
    const at = int(rng, b.length);
    return concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + int(rng, 1024))));
  },
  duplicateRange(b, rng) {
    const at = int(rng, b.length);
    const len = 1 + int(rng, 4096);
    return insertAt(b, int(rng, b.length), b.slice(at, at + len));
  },
  writeHugeNumber(b, rng) {
    const out = b.slice();
    const at = int(rng, Math.max(1, out.length - 4));
    out.set(rng() < 0.5 ? u32be(pick(rng, HUGE_U32)) : u16be(pick(rng, HUGE_U16)), at);
    return out.subarray(0, b.length);
  },
};

function mutatePart(b: Uint8Array, parts: Part[], rng: Rng, f: (out: Uint8Array, p: Part) => Uint8Array | void): Uint8Array {
  if (!parts.length) return generic.bitFlips!(b, rng, 'jpeg');
  const p = pick(rng, parts);
  const out = b.slice();
  return f(out, p) ?? out;
}

const jpegMutators: Record<string, Mutator> = {
  segmentLength(b, rng) {
    return mutatePart(b, jpegSegments(b), rng, (out, p) => {
      out.set(u16be(pick(rng, [...HUGE_U16, 2, 3, int(rng, 65536)])), p.lenAt);
    });
  },
  duplicateSegment(b, rng) {
    const segs = jpegSegments(b);
    if (!segs.length) return b;
    const s = pick(rng, segs);
    const copies = rng() < 0.2 ? 50 + int(rng, 200) : 1 + int(rng, 3);
    const seg = b.subarray(s.start, s.end);
    return insertAt(b, pick(rng, segs).start, concat(...Array.from({ length: copies }, () => seg)));
  },
  sofDimensions(b, rng) {
    const sof = jpegSegments(b).find((s) => /^c[0-3,5-7,9abdef]$/.test(s.type));
    if (!sof) return b;
    const out = b.slice();
    if (rng() < 0.5) out.set(u16be(pick(rng, HUGE_U16)), sof.start + 5);
    if (rng() < 0.7) out.set(u16be(pick(rng, HUGE_U16)), sof.start + 7);
    if (rng() < 0.3) out[sof.start + 9] = pick(rng, [0, 2, 255]); // component count
    return out;
  },
  exifIfd(b, rng) {
    // Walk the EXIF TIFF structure and break one of its numbers: an IFD entry count, an
    // entry's value count or offset, or the next-IFD pointer (huge, or pointing back to
    // itself to make a loop).
    const exif = findBytes(b, 'Exif\0\0');
    if (exif < 0) return generic.writeHugeNumber!(b, rng, 'jpeg');
    const tiff = exif + 6;
    const out = b.slice();
    const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
    const le = out[tiff] === 0x49;
    const ifd0 = tiff + dv.getUint32(tiff + 4, le);
    if (ifd0 + 2 > out.length) return out;
    const count = dv.getUint16(ifd0, le);
    const what = int(rng, 5);
    if (what === 0) dv.setUint16(ifd0, pick(rng, HUGE_U16), le);
    else if (what === 4 || count === 0) {
      const next = ifd0 + 2 + count * 12;
      if (next + 4 <= out.length) dv.setUint32(next, rng() < 0.5 ? ifd0 - tiff : pick(rng, HUGE_U32), le);
    } else {
      const entry = ifd0 + 2 + int(rng, count) * 12;
      if (entry + 12 > out.length) return out;
      if (what === 1) dv.setUint32(entry + 4, pick(rng, HUGE_U32), le); // value count
      else if (what === 2) dv.setUint32(entry + 8, pick(rng, HUGE_U32), le); // value offset
      else dv.setUint16(entry + 2, int(rng, 20), le); // type
    }
    return out;
  },
  manyMarkers(b, rng) {
    // Thousands of tiny APP segments before the image.
    const n = 500 + int(rng, 3000);
    const seg = concat(new Uint8Array([0xff, 0xe0 + int(rng, 16)]), u16be(4), randomBytes(rng, 2));
    return insertAt(b, 2, concat(...Array.from({ length: n }, () => seg)));
  },
};

function zlibBomb(bytes: number): Uint8Array {
  return new Uint8Array(deflateSync(Buffer.alloc(bytes, 0x41), { level: 9 }));
}
// Built once: deflating tens of megabytes per case would dominate the run.
let bombCache: { big: Uint8Array; mid: Uint8Array } | undefined;
function bombs() {
  bombCache ??= { big: zlibBomb(200 * 1024 * 1024), mid: zlibBomb(15 * 1024 * 1024) };
  return bombCache;
}

const pngMutators: Record<string, Mutator> = {
  chunkLength(b, rng) {
    return mutatePart(b, pngChunks(b), rng, (out, p) => {
      out.set(u32be(pick(rng, [...HUGE_U32, 0, int(rng, 1 << 20)])), p.lenAt);
    });
  },
  ihdrDimensions(b, rng) {
    const out = b.slice();
    if (rng() < 0.7) out.set(u32be(pick(rng, HUGE_U32)), 16);
    if (rng() < 0.7) out.set(u32be(pick(rng, [...HUGE_U32, 1])), 20);
    if (rng() < 0.3) out[24] = pick(rng, [0, 3, 16, 255]); // bit depth
    return out;
  },
  duplicateChunk(b, rng) {
    const cs = pngChunks(b);
    if (!cs.length) return b;
    const c = pick(rng, cs);
    const copies = rng() < 0.2 ? 100 + int(rng, 400) : 1 + int(rng, 3);
    const bytes = b.subarray(c.start, c.end);
    return insertAt(b, pick(rng, cs).start, concat(...Array.from({ length: copies }, () => bytes)));
  },
  ztxtBomb(b, rng) {
    const { big, mid } = bombs();
    const ihdrEnd = 8 + 25;
    const one = rng() < 0.5;
    const chunkType = rng() < 0.5 ? 'zTXt' : 'iTXt';
    const body = one ? big : mid;
    const header = chunkType === 'zTXt' ? latin1('Comment\0\0') : latin1('XML:com.adobe.xmp\0\x01\0\0\0');
    const chunk = pngChunk(chunkType, concat(header, body));
    // One 200 MB bomb, or many 15 MB ones (each under a per-chunk cap, together far over).
    const n = one ? 1 : 8 + int(rng, 40);
    return insertAt(b, ihdrEnd, concat(...Array.from({ length: n }, () => chunk)));
  },
  hugeText(b, rng) {
    const text = Buffer.alloc((1 + int(rng, 4)) * 1024 * 1024, 0x61);
    return insertAt(b, 8 + 25, pngChunk('tEXt', concat(latin1('parameters\0'), new Uint8Array(text))));
  },
};

const webpMutators: Record<string, Mutator> = {
  riffLength(b, rng) {
    const out = b.slice();
    const chunks = riffChunks(b);
    const at = rng() < 0.3 || !chunks.length ? 4 : pick(rng, chunks).lenAt;
    const v = pick(rng, [...HUGE_U32, 0, int(rng, 1 << 20)]);
    out.set([v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24], at);
    return out;
  },
  dimensions(b, rng) {
    const out = b.slice();
    const vp8x = riffChunks(b).find((c) => c.type === 'VP8X');
    if (vp8x) out.set([255, 255, 255, 255, 255, 255], vp8x.start + 12); // canvas 2^24 × 2^24
    const vp8 = findBytes(b, 'VP8 ');
    if (vp8 >= 0 && vp8 + 20 <= out.length) out.set([0xff, 0x3f, 0xff, 0x3f], vp8 + 14); // 16383×16383
    const vp8l = findBytes(b, 'VP8L');
    if (vp8l >= 0 && vp8l + 13 <= out.length) out.set([0xff, 0xff, 0xff, 0x0f], vp8l + 9);
    return rng() < 0.5 ? out : generic.bitFlips!(out, rng, 'webp');
  },
  duplicateChunk(b, rng) {
    const cs = riffChunks(b);
    if (!cs.length) return b;
    const c = pick(rng, cs);
    return insertAt(b, pick(rng, cs).start, b.slice(c.start, c.end));
  },
};

const heifMutators: Record<string, Mutator> = {
  boxSize(b, rng) {
    return mutatePart(b, bmffBoxes(b), rng, (out, p) => {
      out.set(u32be(pick(rng, [...HUGE_U32, 0, 1, 7, int(rng, 1 << 16)])), p.lenAt);
    });
  },
  ispeDimensions(b, rng) {
    const out = b.slice();
    for (let at = findBytes(b, 'ispe'); at >= 0; at = findBytes(b, 'ispe', at + 4)) {
      if (at + 16 > out.length) break;
      if (rng() < 0.8) out.set(u32be(pick(rng, [...HUGE_U32, 65535, 0])), at + 8);
      if (rng() < 0.8) out.set(u32be(pick(rng, [...HUGE_U32, 65535, 0])), at + 12);
    }
    return out;
  },
  itemCounts(b, rng) {
    // iloc / iinf / ipma carry counts and extents: make one of them huge.
    const boxes = bmffBoxes(b).filter((x) => ['iloc', 'iinf', 'ipma', 'pitm', 'iref', 'hvcC', 'av1C'].includes(x.type));
    return mutatePart(b, boxes, rng, (out, p) => {
      const at = p.start + 12 + int(rng, Math.max(1, Math.min(24, p.end - p.start - 16)));
      out.set(rng() < 0.5 ? u32be(pick(rng, HUGE_U32)) : u16be(pick(rng, HUGE_U16)), at);
    });
  },
  duplicateBox(b, rng) {
    const bs = bmffBoxes(b);
    if (!bs.length) return b;
    const x = pick(rng, bs.filter((y) => y.end - y.start < 65536).concat(bs[0]!));
    return insertAt(b, pick(rng, bs).start, b.slice(x.start, x.end));
  },
};

const FORMAT_MUTATORS: Record<SeedKind, Record<string, Mutator>> = {
  jpeg: jpegMutators,
  png: pngMutators,
  webp: webpMutators,
  heif: heifMutators,
  avif: heifMutators,
};

// ---------------------------------------------------------------- seeds

interface Seed {
  name: string;
  kind: SeedKind;
  bytes: Uint8Array;
  /** Relative frequency; expensive seeds (full-size C2PA files, HEIF) run less often. */
  weight: number;
}

function pictureSvg(w: number, h: number): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><rect width="100%" height="100%" fill="#eee"/>` +
    `<circle cx="${w / 2}" cy="${h / 2}" r="${h / 3}" fill="#c33"/><path d="M2 2L${w - 3} ${h - 5}" stroke="#123" stroke-width="2"/></svg>`
  );
}

async function buildSeeds(): Promise<Seed[]> {
  const { default: sharp } = await import('sharp');
  const { readShared } = await import('../helpers/shared.ts');
  const fx = (p: string) => new Uint8Array(readShared('fixtures', p));
  const picture = (w: number, h: number) => sharp(Buffer.from(pictureSvg(w, h)));
  const tinyPng = new Uint8Array(await picture(40, 30).png().toBuffer());

  // JPEG seeds: real APPn metadata (EXIF with thumbnail, GPS, XMP label, C2PA JUMBF)
  // spliced in front of the same photo scaled down to 64 px wide, so each mutation decodes
  // in about a millisecond and the EXIF thumbnail still shows the main picture (except
  // where the fixture's thumbnail was swapped on purpose).
  const spliceJpeg = async (source: Uint8Array) => {
    const meta = jpegSegments(source)
      .filter((s) => /^e[1-9a-f]$|^fe$/.test(s.type))
      .map((s) => source.subarray(s.start, s.end));
    const body = new Uint8Array(await sharp(source).resize({ width: 64 }).jpeg({ quality: 80 }).toBuffer());
    return concat(new Uint8Array([0xff, 0xd8]), ...meta, body.subarray(2));
  };
  const splicePng = (...sources: Uint8Array[]) => {
    const extra = sources.flatMap((src) =>
      pngChunks(src)
        .filter((c) => !['IHDR', 'IDAT', 'IEND', 'PLTE'].includes(c.type))
        .map((c) => src.subarray(c.start, c.end)),
    );
    return insertAt(tinyPng, 8 + 25, concat(...extra));
  };

  const xmpLabel = new TextDecoder().decode(fx('labels/aigc_xmp_label1.jpg')).match(/<x:xmpmeta[\s\S]*?<\/x:xmpmeta>/)?.[0];
  const webp = new Uint8Array(
    await picture(40, 28)
      .webp({ quality: 70 })
      .withExif({ IFD0: { Make: 'Apple', Model: 'iPhone 13', Software: 'Meitu' } })
      .withXmp(xmpLabel ?? '<x:xmpmeta xmlns:x="adobe:ns:meta/"></x:xmpmeta>')
      .toBuffer(),
  );
  const webpLossless = new Uint8Array(await picture(24, 24).webp({ lossless: true }).toBuffer());
  const avif = new Uint8Array(await picture(32, 32).avif({ quality: 50 }).toBuffer());
  bombs(); // built before the memory baseline is taken

  return [
    { name: 'jpeg-exif-gps-thumbnail', kind: 'jpeg', bytes: await spliceJpeg(fx('camera/nikon_p6000_gps_0010.jpg')), weight: 4 },
    { name: 'jpeg-swapped-thumbnail', kind: 'jpeg', bytes: await spliceJpeg(fx('labels/thumbnail_swapped.jpg')), weight: 3 },
    { name: 'jpeg-xmp-aigc-label', kind: 'jpeg', bytes: await spliceJpeg(fx('labels/aigc_xmp_label1.jpg')), weight: 3 },
    { name: 'jpeg-usercomment-label', kind: 'jpeg', bytes: await spliceJpeg(fx('labels/aigc_exif_usercomment_label1.jpg')), weight: 2 },
    { name: 'jpeg-iptc-trained', kind: 'jpeg', bytes: await spliceJpeg(fx('labels/iptc_trained_algorithmic.jpg')), weight: 2 },
    { name: 'jpeg-orientation-6', kind: 'jpeg', bytes: await spliceJpeg(fx('camera/orient_6.jpg')), weight: 1 },
    { name: 'jpeg-c2pa-jumbf', kind: 'jpeg', bytes: await spliceJpeg(fx('c2pa/valid_C.jpg')), weight: 3 },
    { name: 'jpeg-c2pa-ai-multisegment', kind: 'jpeg', bytes: await spliceJpeg(fx('c2pa/ai_photoshop_firefly_fill.jpg')), weight: 1 },
    { name: 'jpeg-c2pa-full', kind: 'jpeg', bytes: fx('c2pa/valid_CA.jpg'), weight: 0.3 },
    { name: 'png-aigc-text', kind: 'png', bytes: splicePng(fx('labels/aigc_png_text_label1.png')), weight: 3 },
    { name: 'png-comfyui', kind: 'png', bytes: splicePng(fx('generators/sd15_lora_workflow.png')), weight: 2 },
    { name: 'png-iccp', kind: 'png', bytes: splicePng(fx('broken/iccp_bad_adler32.png')), weight: 1 },
    { name: 'png-c2pa-cabx', kind: 'png', bytes: splicePng(fx('c2pa/ai_firefly.png')), weight: 1 },
    { name: 'webp-exif-xmp', kind: 'webp', bytes: webp, weight: 2 },
    { name: 'webp-lossless', kind: 'webp', bytes: webpLossless, weight: 1 },
    { name: 'heif', kind: 'heif', bytes: fx('heic/samplefilehub.heif'), weight: 0.6 },
    // A real iPhone HEIC (tiled grid, 8.5 MP): slow to decode, so rare.
    { name: 'heic-iphone-grid', kind: 'heif', bytes: fx('heic/iphone11promax.heic'), weight: 0.2 },
    { name: 'avif', kind: 'avif', bytes: avif, weight: 1 },
  ];
}

export interface FuzzCase {
  index: number;
  id: string;
  bytes: Uint8Array;
  name: string;
}

/** Deterministic case `index` of the run with `seed`: a seed file with 1–3 mutations. */
function makeCase(seeds: Seed[], seed: number, index: number): FuzzCase {
  const rng = mulberry32((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  const total = seeds.reduce((s, x) => s + x.weight, 0);
  let r = rng() * total;
  let s = seeds[0]!;
  for (const x of seeds) {
    r -= x.weight;
    if (r < 0) {
      s = x;
      break;
    }
  }
  let bytes = s.bytes;
  const applied: string[] = [];
  const steps = rng() < 0.6 ? 1 : 2 + int(rng, 2);
  for (let k = 0; k < steps; k++) {
    const specific = FORMAT_MUTATORS[s.kind];
    const useSpecific = rng() < 0.55;
    const table = useSpecific ? specific : generic;
    const name = pick(rng, Object.keys(table));
    if (name === 'ztxtBomb' && s.kind === 'png' && rng() < 0.6) continue; // bombs are slow to build into files; keep them a minority
    bytes = table[name]!(bytes, rng, s.kind);
    applied.push(name);
    if (bytes.length === 0) break;
  }
  // Sometimes the name lies about the format, to exercise the mismatch path.
  const ext = rng() < 0.05 ? pick(rng, ['jpg', 'png', 'txt', 'heic']) : { jpeg: 'jpg', png: 'png', webp: 'webp', heif: 'heif', avif: 'avif' }[s.kind];
  return { index, id: `${s.name}:${applied.join('+') || 'none'}`, bytes, name: `case-${index}.${ext}` };
}

// ---------------------------------------------------------------- child: run the cases

type ChildMessage =
  | { t: 'start'; index: number; id: string; size: number }
  | { t: 'done'; index: number; ms: number; rss: number; errorCode?: string; detectorErrors: string[]; signalIds: string[]; detectorMs: Record<string, number>; problem?: string }
  | { t: 'fatal'; index: number; what: string }
  | { t: 'end'; processed: number; planned: number; budgetHit: boolean; seedsMs: number };

function checkReport(r: unknown, c: FuzzCase): string | undefined {
  const rep = r as Record<string, any>;
  if (!rep || typeof rep !== 'object') return 'report is not an object';
  try {
    JSON.stringify(rep);
  } catch (e) {
    return `report is not JSON-serialisable: ${(e as Error).message}`;
  }
  if (rep.file !== c.name) return `report.file is ${rep.file}`;
  if (!Array.isArray(rep.signals)) return 'report.signals is not an array';
  if (rep.error) {
    if (!KNOWN_ERROR_CODES.has(rep.error.code)) return `unknown error code ${rep.error.code}: ${rep.error.message}`;
    if (typeof rep.error.message !== 'string' || rep.error.message.length < 10) return 'error message missing';
    return undefined;
  }
  if (!(Number.isInteger(rep.width) && rep.width > 0 && Number.isInteger(rep.height) && rep.height > 0)) return `bad size ${rep.width}x${rep.height}`;
  if (typeof rep.sha256 !== 'string' || rep.sha256.length !== 64) return 'bad sha256';
  if (!(rep.risk >= 0 && rep.risk <= 1)) return `risk ${rep.risk}`;
  if (!IMAGE_VERDICTS.has(rep.verdict)) return `verdict ${rep.verdict}`;
  for (const s of rep.signals) {
    if (typeof s.id !== 'string' || !/^[a-z0-9_]+(\.[a-z0-9_]+)+$/.test(s.id)) return `signal id ${s.id}`;
    if (!SIGNAL_VERDICTS.has(s.verdict)) return `${s.id}: verdict ${s.verdict}`;
    if (!(s.score >= 0 && s.score <= 1 && s.confidence >= 0 && s.confidence <= 1)) return `${s.id}: score/confidence out of range`;
    if (typeof s.summary?.en !== 'string' || typeof s.summary?.zh !== 'string' || !s.summary.en || !s.summary.zh) return `${s.id}: summary`;
    if (!s.evidence || typeof s.evidence !== 'object') return `${s.id}: evidence`;
    for (const g of s.evidence.regions ?? []) {
      if (![g.x, g.y, g.width, g.height].every((v: unknown) => typeof v === 'number' && Number.isFinite(v))) return `${s.id}: region not numeric`;
      if (g.x < 0 || g.y < 0 || g.width <= 0 || g.height <= 0 || g.x + g.width > rep.width || g.y + g.height > rep.height) {
        return `${s.id}: region ${JSON.stringify(g)} outside the ${rep.width}x${rep.height} image`;
      }
    }
  }
  return undefined;
}

async function runChild(): Promise<void> {
  const send = (m: ChildMessage) => {
    if (process.send) process.send(m);
    else if (m.t !== 'start') process.stdout.write(JSON.stringify(m) + '\n');
  };
  let current = -1;
  process.on('unhandledRejection', (e) => send({ t: 'fatal', index: current, what: `unhandledRejection: ${(e as Error)?.stack ?? String(e)}` }));
  process.on('uncaughtException', (e) => send({ t: 'fatal', index: current, what: `uncaughtException: ${e?.stack ?? String(e)}` }));

  const { analyzeBytes } = await import('../../src/forensics/engine.ts');
  const { DETECTORS } = await import('../../src/forensics/registry.ts');
  // Besides every registered detector, one that touches all lazy accessors of the image,
  // so metadata parsing and greyscale conversion are fuzzed even before detectors use them.
  const touchAll: Detector = {
    id: 'fuzz.touch_all',
    version: '1',
    async run(image) {
      const meta = await image.metadata();
      if (!Array.isArray(meta.errors) || typeof meta.tags !== 'object') throw new Error('metadata() broke its contract');
      const gray = await image.gray();
      if (gray.data.length !== image.width * image.height) throw new Error('gray() size mismatch');
      return [];
    },
  };
  // CLAIMLENS_FUZZ_SKIP=id,id leaves detectors out (to find which one a problem comes from).
  const skip = new Set((process.env.CLAIMLENS_FUZZ_SKIP ?? '').split(',').filter(Boolean));
  const detectors = [...DETECTORS, touchAll].filter((d) => !skip.has(d.id));
  // Claim context for the detectors that use it: a merchant reference photo (the seed
  // picture, larger) for every eighth case, and a reuse index that reports a match for
  // every other case, so reference comparison and reuse reporting meet mutated input too.
  const { intakeImage } = await import('../../src/forensics/intake.ts');
  const { default: sharp } = await import('sharp');
  const referenceImage = await intakeImage(new Uint8Array(await sharp(Buffer.from(pictureSvg(192, 128))).jpeg({ quality: 90 }).toBuffer()), { name: 'reference.jpg' });
  const references: ReferenceMedia[] = [{ id: 'listing-1', kind: 'listing', image: referenceImage }];
  const matchingReuse: ReuseLookup = {
    lookup: (hashes) => hashes.slice(0, 1).map((hash) => ({ owner: { type: 'claim', id: 'earlier-claim', buyerId: 'buyer-2' }, distance: 4, variant: 0, hash })),
  };
  const emptyReuse: ReuseLookup = { lookup: () => [] };
  const contextFor = (index: number): AnalysisContext => ({
    uploadedAt: new Date('2026-01-01T00:00:00Z'),
    deliveredAt: new Date('2025-06-01T00:00:00Z'),
    buyerId: 'buyer-1',
    claimId: `claim-${index}`,
    reuse: index % 2 === 0 ? matchingReuse : emptyReuse,
    references: index % 8 === 1 ? references : undefined,
  });
  const t0 = performance.now();
  const seeds = await buildSeeds();
  const seedsMs = performance.now() - t0;
  const only = process.env.CLAIMLENS_FUZZ_ONLY;
  const indices = only !== undefined ? only.split(',').map(Number) : Array.from({ length: CASES }, (_, i) => i);
  const deadline = performance.now() + BUDGET_S * 1000;
  let processed = 0;
  let budgetHit = false;
  for (const index of indices) {
    if (performance.now() > deadline) {
      budgetHit = true;
      break;
    }
    const c = makeCase(seeds, SEED, index);
    if (process.env.CLAIMLENS_FUZZ_DUMP) writeFileSync(process.env.CLAIMLENS_FUZZ_DUMP, c.bytes);
    current = index;
    send({ t: 'start', index, id: c.id, size: c.bytes.length });
    if (process.env.CLAIMLENS_FUZZ_VERBOSE) process.stderr.write(`case ${index} ${c.id} ${c.bytes.length} bytes\n`);
    const t = performance.now();
    let problem: string | undefined;
    let report: Awaited<ReturnType<typeof analyzeBytes>> | undefined;
    try {
      report = await analyzeBytes(c.bytes, c.name, { detectors, context: contextFor(index) });
      problem = checkReport(report, c);
    } catch (e) {
      problem = `analyzeBytes threw: ${(e as Error)?.stack ?? String(e)}`;
    }
    const detectorErrors = (report?.detectors ?? []).filter((d) => d.error).map((d) => `${d.id}: ${d.error}`);
    const touchError = report?.detectors?.find((d) => d.id === touchAll.id)?.error;
    if (touchError && !problem) problem = `image accessors failed: ${touchError}`;
    const signalIds = [...new Set((report?.signals ?? []).map((x) => x.id))];
    const detectorMs = Object.fromEntries((report?.detectors ?? []).map((d) => [d.id, d.ms]));
    if (process.env.CLAIMLENS_FUZZ_VERBOSE && index % 250 === 0) {
      const m = process.memoryUsage();
      process.stderr.write(`mem ${index} rss=${m.rss >> 20} heap=${m.heapUsed >> 20} external=${m.external >> 20} arrayBuffers=${m.arrayBuffers >> 20} MB\n`);
    }
    send({ t: 'done', index, ms: performance.now() - t, rss: process.memoryUsage.rss(), errorCode: report?.error?.code, detectorErrors, signalIds, detectorMs, problem });
    processed++;
  }
  send({ t: 'end', processed, planned: indices.length, budgetHit, seedsMs });
  // Let pending IPC flush, then leave even if a detector left a handle open.
  setTimeout(() => process.exit(0), 200).unref();
  process.disconnect?.();
}

// ---------------------------------------------------------------- parent: watchdog and assertions

interface RunResult {
  problems: string[];
  fatals: string[];
  errorCodes: Map<string, number>;
  detectorErrors: Map<string, { count: number; example: string }>;
  signalCounts: Map<string, number>;
  detectorMs: Map<string, number>;
  processed: number;
  analysed: number;
  budgetHit: boolean;
  maxMs: number;
  slowest: string;
  maxRss: number;
  /** RSS after every file, in order. */
  rssSamples: number[];
  rssAfterWarmup: number;
  finalRss: number;
  hang?: string;
  exit?: string;
  stderrTail: string;
  wallMs: number;
}

function median(xs: number[]): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function runInChild(): Promise<RunResult> {
  const self = fileURLToPath(import.meta.url);
  const res: RunResult = {
    problems: [], fatals: [], errorCodes: new Map(), detectorErrors: new Map(), signalCounts: new Map(), detectorMs: new Map(), processed: 0, analysed: 0,
    budgetHit: false, maxMs: 0, slowest: '', maxRss: 0, rssSamples: [], rssAfterWarmup: 0, finalRss: 0, wallMs: 0, stderrTail: '',
  };
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = fork(self, [], {
      execArgv: ['--import', 'tsx'],
      // MALLOC_ARENA_MAX=2: glibc's default of 8 malloc arenas per core lets libvips'
      // worker threads fragment memory, so RSS climbs ~250 MB over 3000 files before it
      // levels off (JS heap and external memory stay flat; intake alone shows it). Two
      // arenas is the usual setting for sharp on glibc, and the service should run so too.
      env: { MALLOC_ARENA_MAX: '2', ...process.env, CLAIMLENS_FUZZ_CHILD: '1' },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    // libvips and libheif print warnings for broken files; keep the tail to show on failure.
    child.stderr!.on('data', (d: Buffer) => {
      res.stderrTail = (res.stderrTail + d.toString('utf8')).slice(-4000);
    });
    let current: { index: number; id: string; size: number; at: number } | undefined;
    let ended = false;
    // The watchdog runs here, in the parent, so it fires even when the child's event loop is stuck.
    const watchdog = setInterval(() => {
      if (current && performance.now() - current.at > PER_FILE_LIMIT_MS) {
        res.hang = `case ${current.index} (${current.id}, ${current.size} bytes) ran longer than ${PER_FILE_LIMIT_MS} ms`;
        child.kill('SIGKILL');
      }
    }, 500);
    child.on('message', (m: ChildMessage) => {
      if (m.t === 'start') current = { index: m.index, id: m.id, size: m.size, at: performance.now() };
      else if (m.t === 'done') {
        res.processed++;
        const id = current?.index === m.index ? current.id : String(m.index);
        if (m.problem) res.problems.push(`case ${m.index} (${id}): ${m.problem}`);
        if (m.errorCode) res.errorCodes.set(m.errorCode, (res.errorCodes.get(m.errorCode) ?? 0) + 1);
        else if (!m.problem) res.analysed++;
        for (const d of m.detectorErrors) {
          const key = d.split(':')[0]!;
          const e = res.detectorErrors.get(key) ?? { count: 0, example: `case ${m.index} (${id}): ${d}` };
          e.count++;
          res.detectorErrors.set(key, e);
        }
        for (const id of m.signalIds) res.signalCounts.set(id, (res.signalCounts.get(id) ?? 0) + 1);
        for (const [id, ms] of Object.entries(m.detectorMs)) res.detectorMs.set(id, (res.detectorMs.get(id) ?? 0) + ms);
        if (m.ms > res.maxMs) {
          res.maxMs = m.ms;
          res.slowest = `case ${m.index} (${id})`;
        }
        res.maxRss = Math.max(res.maxRss, m.rss);
        res.rssSamples.push(m.rss);
        current = undefined;
      } else if (m.t === 'fatal') res.fatals.push(`case ${m.index}: ${m.what}`);
      else if (m.t === 'end') {
        ended = true;
        res.budgetHit = m.budgetHit;
      }
    });
    child.on('exit', (code, sig) => {
      clearInterval(watchdog);
      // Medians over windows, so one big file's momentary peak is not read as growth:
      // after warm-up = 10–20 % of the run, final = its last 10 %.
      const n = res.rssSamples.length;
      res.rssAfterWarmup = median(res.rssSamples.slice(Math.floor(n * 0.1), Math.max(1, Math.floor(n * 0.2))));
      res.finalRss = median(res.rssSamples.slice(Math.floor(n * 0.9)));
      res.wallMs = performance.now() - t0;
      if (!ended && !res.hang) {
        res.exit = `child died (code ${code}, signal ${sig})${current ? ` during case ${current.index} (${current.id})` : ''}`;
      }
      resolve(res);
    });
  });
}

if (process.env.CLAIMLENS_FUZZ_CHILD) {
  await runChild();
} else {
  test(`fuzz: ${CASES} mutated files through intake and every registered detector`, { timeout: (BUDGET_S + 120) * 1000 }, async (t) => {
    const r = await runInChild();
    const mb = (x: number) => `${(x / 1048576).toFixed(0)} MB`;
    t.diagnostic(`processed ${r.processed} files in ${(r.wallMs / 1000).toFixed(1)} s; analysed ${r.analysed}; refused ${[...r.errorCodes].map(([k, v]) => `${k}=${v}`).join(' ')}`);
    t.diagnostic(`slowest ${r.maxMs.toFixed(0)} ms (${r.slowest}); rss max ${mb(r.maxRss)}, median after warm-up ${mb(r.rssAfterWarmup)}, median at the end ${mb(r.finalRss)}`);
    t.diagnostic(`files with each signal: ${[...r.signalCounts].sort().map(([k, v]) => `${k}=${v}`).join(' ') || 'none'}`);
    t.diagnostic(`time in each detector: ${[...r.detectorMs].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${(v / 1000).toFixed(1)}s`).join(' ')}`);
    for (const [id, e] of r.detectorErrors) t.diagnostic(`detector ${id} threw on ${e.count} files (caught by the engine), e.g. ${e.example.slice(0, 300)}`);
    if (r.budgetHit) t.diagnostic(`time budget of ${BUDGET_S} s reached: the run stopped early`);
    if (r.hang || r.exit || r.fatals.length) t.diagnostic(`child stderr (tail):\n${r.stderrTail}`);

    assert.equal(r.hang, undefined, r.hang);
    assert.equal(r.exit, undefined, r.exit);
    assert.deepEqual(r.fatals, [], 'unhandled errors in the analysing process');
    assert.deepEqual(r.problems.slice(0, 20), [], `${r.problems.length} malformed reports or escaped exceptions`);
    assert.ok(r.processed >= MIN_CASES, `only ${r.processed} of ${CASES} cases ran within the budget`);
    // Both outcomes must occur: a fuzz run where everything is refused (or nothing is) tests too little.
    assert.ok(r.analysed > r.processed * 0.1, `only ${r.analysed} files were analysed`);
    assert.ok(r.processed - r.analysed > r.processed * 0.1, 'almost nothing was refused');
    assert.ok(r.maxMs < PER_FILE_LIMIT_MS, `slowest file took ${r.maxMs} ms`);
    assert.ok(r.maxRss < MAX_RSS, `rss reached ${mb(r.maxRss)}`);
    assert.ok(r.finalRss - r.rssAfterWarmup < MAX_RSS_GROWTH, `rss grew from ${mb(r.rssAfterWarmup)} to ${mb(r.finalRss)}`);
  });
}

if (!process.env.CLAIMLENS_FUZZ_CHILD) {
  test('a HEIC decode runs off the event loop, is abandoned at the time limit, and the decoder recovers', async () => {
    const { intakeImage } = await import('../../src/forensics/intake.ts');
    const { IntakeError } = await import('../../src/forensics/errors.ts');
    const { readShared } = await import('../helpers/shared.ts');
    const big = readShared('fixtures/heic/iphone11promax.heic');
    const small = readShared('fixtures/heic/samplefilehub.heif');

    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const ok = await intakeImage(big, { name: 'a.heic' });
    clearInterval(timer);
    assert.equal(ok.width * ok.height, 2566 * 3313);
    // libheif decodes synchronously; on the main thread not one tick could run meanwhile.
    assert.ok(ticks >= 3, `event loop ran ${ticks} ticks during the decode`);

    await assert.rejects(intakeImage(big, { name: 'a.heic', limits: { decodeTimeoutSeconds: 0.02 } }), (e: unknown) => {
      assert.ok(e instanceof IntakeError);
      assert.equal(e.code, 'decode_timeout');
      return true;
    });
    // The abandoned decoder was replaced: the next file decodes, and the caller's bytes are intact.
    const again = await intakeImage(small, { name: 'b.heif' });
    assert.equal(again.width, 640);
    assert.equal(small.length, 29208);
    // Several files at once are queued, not lost.
    const many = await Promise.all([small, small, small].map((b, i) => intakeImage(b, { name: `${i}.heif` })));
    assert.deepEqual(many.map((m) => m.sha256), [again.sha256, again.sha256, again.sha256]);
  });

  test('PNG text bombs are neither inflated by the decoder nor beyond the metadata budget', async () => {
    const { intakeImage } = await import('../../src/forensics/intake.ts');
    const { default: sharp } = await import('sharp');
    const png = new Uint8Array(await sharp({ create: { width: 20, height: 10, channels: 3, background: '#888' } }).png().toBuffer());
    const bomb = zlibBomb(15 * 1024 * 1024);
    const label = pngChunk('tEXt', latin1('AIGC\0{"Label":"1"}'));
    const chunks = Array.from({ length: 30 }, () => pngChunk('zTXt', concat(latin1('Comment\0\0'), bomb)));
    const file = insertAt(png, 33, concat(label, ...chunks));
    const before = process.memoryUsage.rss();
    const image = await intakeImage(file, { name: 'bomb.png' });
    const meta = await image.metadata();
    const grew = process.memoryUsage.rss() - before;
    assert.equal(image.width, 20);
    assert.equal(meta.pngText?.['AIGC'], '{"Label":"1"}');
    assert.ok(meta.errors.some((e) => /budget/.test(e)), meta.errors.join('; '));
    // 30 × 15 MB would be 450 MB if every chunk were inflated.
    assert.ok(grew < 150 * 1024 * 1024, `rss grew by ${(grew / 1048576).toFixed(0)} MB`);
  });
}

if (!process.env.CLAIMLENS_FUZZ_CHILD) {
  test('the engine survives misbehaving detectors: throws, rejects, never answers, malformed signals', async () => {
    const { analyzeBytes, signalProblem } = await import('../../src/forensics/engine.ts');
    const { signal } = await import('../../src/forensics/signal.ts');
    const { default: sharp } = await import('sharp');
    const jpeg = new Uint8Array(await sharp({ create: { width: 8, height: 8, channels: 3, background: '#777' } }).jpeg().toBuffer());
    const good: Detector = { id: 'good', version: '1', run: () => [signal('good.one', 'suspicious', 0.8, 1, { en: 'found', zh: '发现' })] };
    const bad = (id: string, run: Detector['run']): Detector => ({ id, version: '1', run });
    const detectors: Detector[] = [
      bad('throws', () => {
        throw new Error('boom');
      }),
      bad('rejects', async () => Promise.reject(new Error('async boom'))),
      bad('hangs', () => new Promise(() => {})),
      bad('nan', () => [{ ...signal('nan.score', 'tampered', 1, 1, { en: 'x', zh: 'x' }), score: Number.NaN }]),
      bad('nozh', () => [{ id: 'no.zh', verdict: 'tampered', score: 1, confidence: 1, summary: { en: 'x' }, evidence: {} } as never]),
      bad('undefined', () => undefined as never),
      good,
    ];
    const t0 = performance.now();
    const r = await analyzeBytes(jpeg, 'x.jpg', { detectors, detectorTimeoutMs: 200 });
    assert.ok(performance.now() - t0 < 5000);
    assert.deepEqual(r.signals.map((s) => s.id), ['good.one'], 'only the well-formed signal counts');
    assert.equal(r.verdict, 'suspicious');
    const errors = Object.fromEntries(r.detectors!.map((d) => [d.id, d.error ?? '']));
    assert.match(errors['throws']!, /boom/);
    assert.match(errors['rejects']!, /async boom/);
    assert.match(errors['hangs']!, /no answer within 200 ms/);
    assert.match(errors['nan']!, /score NaN/);
    assert.match(errors['nozh']!, /summary needs en and zh/);
    assert.match(errors['undefined']!, /not an array/);
    assert.equal(errors['good'], '');
    assert.equal(signalProblem(r.signals[0]), undefined);
  });
}
