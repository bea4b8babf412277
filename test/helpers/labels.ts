// Builders for labelled test files, written by hand so the metadata detectors are tested
// against files whose every byte we control: XMP packets in JPEG APP1, a small TIFF/EXIF
// writer (IFD0, Exif IFD with UserComment and dates, GPS, IFD1 thumbnail), PNG text
// chunks with correct CRCs, and synthetic pictures to put in them.

import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { intakeImage } from '../../src/forensics/intake.ts';
import type { AnalysisContext, Detector, Signal } from '../../src/forensics/types.ts';

// ── Pictures ────────────────────────────────────────────────────────────────────

/** A deterministic RGB test picture; different `seed`s give unrelated layouts. */
export function pictureRgb(width: number, height: number, seed: number): Buffer {
  let state = (seed * 2654435761) >>> 0 || 1;
  const rnd = () => {
    // mulberry32: small, deterministic, good enough to scatter shapes
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const angle = rnd() * Math.PI * 2;
  const gx = Math.cos(angle);
  const gy = Math.sin(angle);
  const base = [rnd() * 255, rnd() * 255, rnd() * 255];
  const shapes = Array.from({ length: 7 }, () => ({
    disc: rnd() < 0.5,
    x: rnd() * width,
    y: rnd() * height,
    w: (0.1 + rnd() * 0.35) * width,
    h: (0.1 + rnd() * 0.35) * height,
    c: [rnd() * 255, rnd() * 255, rnd() * 255],
  }));
  const buf = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const g = ((x / width - 0.5) * gx + (y / height - 0.5) * gy) * 160;
      let c = [base[0]! + g, base[1]! + g, base[2]! + g];
      for (const s of shapes) {
        const inside = s.disc
          ? ((x - s.x) / (s.w / 2)) ** 2 + ((y - s.y) / (s.h / 2)) ** 2 < 1
          : Math.abs(x - s.x) < s.w / 2 && Math.abs(y - s.y) < s.h / 2;
        if (inside) c = s.c;
      }
      const i = (y * width + x) * 3;
      for (let k = 0; k < 3; k++) buf[i + k] = Math.max(0, Math.min(255, Math.round(c[k]!)));
    }
  }
  return buf;
}

export async function pictureJpeg(width: number, height: number, seed: number, quality = 90): Promise<Buffer> {
  return sharp(pictureRgb(width, height, seed), { raw: { width, height, channels: 3 } }).jpeg({ quality }).toBuffer();
}

export async function picturePng(width: number, height: number, seed: number): Promise<Buffer> {
  return sharp(pictureRgb(width, height, seed), { raw: { width, height, channels: 3 } }).png().toBuffer();
}

// ── GB 45438 label and XMP ──────────────────────────────────────────────────────

export const TC260_NS = 'http://www.tc260.org.cn/ns/AIGC/1.0/';
export const IPTC_EXT_NS = 'http://iptc.org/std/Iptc4xmpExt/2008-02-29/';
export const IPTC_SOURCE = 'http://cv.iptc.org/newscodes/digitalsourcetype/';

export interface AigcFields {
  Label?: string;
  ContentProducer?: string;
  ProduceID?: string;
  ReservedCode1?: string;
  ContentPropagator?: string;
  PropagateID?: string;
  ReservedCode2?: string;
  [k: string]: unknown;
}

/** A complete label with all seven keys; pass overrides, or `undefined` values to drop keys. */
export function aigcLabel(overrides: AigcFields = {}): AigcFields {
  const base: AigcFields = {
    Label: '1',
    ContentProducer: '001191110108MA01TEST000000',
    ProduceID: 'test-20250901-0001',
    ReservedCode1: '',
    ContentPropagator: '',
    PropagateID: '',
    ReservedCode2: '',
  };
  const out: AigcFields = { ...base, ...overrides };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export interface XmpProp {
  prefix: string;
  ns: string;
  name: string;
  value: string;
  /** element (default), attribute on rdf:Description, or rdf:resource */
  form?: 'element' | 'attribute' | 'resource';
}

/** An XMP packet with the given properties, inside the usual xpacket wrapper. */
export function xmpPacket(props: XmpProp[], extraBody = ''): string {
  const nsDecl = [...new Map(props.map((p) => [p.prefix, p.ns])).entries()]
    .map(([p, ns]) => ` xmlns:${p}="${ns}"`)
    .join('');
  const attrs = props.filter((p) => p.form === 'attribute').map((p) => ` ${p.prefix}:${p.name}="${xmlEscape(p.value)}"`).join('');
  const elements = props
    .filter((p) => p.form !== 'attribute')
    .map((p) =>
      p.form === 'resource'
        ? `   <${p.prefix}:${p.name} rdf:resource="${xmlEscape(p.value)}"/>`
        : `   <${p.prefix}:${p.name}>${xmlEscape(p.value)}</${p.prefix}:${p.name}>`,
    )
    .join('\n');
  return (
    `<?xpacket begin="\uFEFF" id="W5M0MpCehiHzreSzNTczkc9d"?>\n` +
    `<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="claimlens test writer">\n` +
    ` <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n` +
    `  <rdf:Description rdf:about=""${nsDecl}${attrs}>\n${elements}\n${extraBody}  </rdf:Description>\n` +
    ` </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end="w"?>`
  );
}

export function aigcXmp(label: AigcFields | string, form: 'element' | 'attribute' = 'element'): string {
  const value = typeof label === 'string' ? label : JSON.stringify(label);
  return xmpPacket([{ prefix: 'TC260', ns: TC260_NS, name: 'AIGC', value, form }]);
}

export function digitalSourceXmp(term: string, form: 'element' | 'resource' = 'element'): string {
  return xmpPacket([{ prefix: 'Iptc4xmpExt', ns: IPTC_EXT_NS, name: 'DigitalSourceType', value: IPTC_SOURCE + term, form }]);
}

// ── JPEG segments ───────────────────────────────────────────────────────────────

function segment(marker: number, payload: Uint8Array): Buffer {
  if (payload.length + 2 > 0xffff) throw new Error('JPEG segment too large');
  const head = Buffer.from([0xff, marker, (payload.length + 2) >> 8, (payload.length + 2) & 0xff]);
  return Buffer.concat([head, payload]);
}

/** Inserts segments after SOI and any leading APP0/APP1 segments; drops existing APP1 when asked. */
export function insertJpegSegments(jpeg: Uint8Array, segments: Buffer[], opts: { dropApp1?: boolean } = {}): Buffer {
  const src = Buffer.from(jpeg);
  if (src[0] !== 0xff || src[1] !== 0xd8) throw new Error('not a JPEG');
  const kept: Buffer[] = [];
  let off = 2;
  while (off + 4 <= src.length && src[off] === 0xff && (src[off + 1] === 0xe0 || src[off + 1] === 0xe1)) {
    const len = src.readUInt16BE(off + 2);
    if (!(opts.dropApp1 && src[off + 1] === 0xe1)) kept.push(src.subarray(off, off + 2 + len));
    off += 2 + len;
  }
  return Buffer.concat([src.subarray(0, 2), ...kept, ...segments, src.subarray(off)]);
}

export function xmpSegment(packet: string): Buffer {
  return segment(0xe1, Buffer.concat([Buffer.from('http://ns.adobe.com/xap/1.0/\0', 'latin1'), Buffer.from(packet, 'utf8')]));
}

export function exifSegment(tiff: Uint8Array): Buffer {
  return segment(0xe1, Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]));
}

export function commentSegment(text: string): Buffer {
  return segment(0xfe, Buffer.from(text, 'utf8'));
}

export function jpegWithXmp(jpeg: Uint8Array, packet: string): Buffer {
  return insertJpegSegments(jpeg, [xmpSegment(packet)]);
}

// ── TIFF / EXIF writer ──────────────────────────────────────────────────────────

const TYPE = { BYTE: 1, ASCII: 2, SHORT: 3, LONG: 4, RATIONAL: 5, UNDEFINED: 7 } as const;

export type ExifValue =
  | { type: 'ascii'; value: string }
  | { type: 'short'; value: number[] }
  | { type: 'long'; value: number[] }
  | { type: 'rational'; value: [number, number][] }
  | { type: 'undefined'; value: Uint8Array }
  | { type: 'byte'; value: number[] };

export const ascii = (value: string): ExifValue => ({ type: 'ascii', value });
export const short = (...value: number[]): ExifValue => ({ type: 'short', value });
export const rational = (...value: [number, number][]): ExifValue => ({ type: 'rational', value });
export const undef = (value: Uint8Array): ExifValue => ({ type: 'undefined', value });

export const TAG = {
  Make: 0x010f,
  Model: 0x0110,
  Orientation: 0x0112,
  Software: 0x0131,
  DateTime: 0x0132,
  ImageDescription: 0x010e,
  ExifIFD: 0x8769,
  GPSIFD: 0x8825,
  DateTimeOriginal: 0x9003,
  CreateDate: 0x9004,
  OffsetTimeOriginal: 0x9011,
  UserComment: 0x9286,
  GPSLatitudeRef: 0x0001,
  GPSLatitude: 0x0002,
  GPSLongitudeRef: 0x0003,
  GPSLongitude: 0x0004,
  Compression: 0x0103,
  ThumbnailOffset: 0x0201,
  ThumbnailLength: 0x0202,
} as const;

export interface ExifSpec {
  ifd0?: Record<number, ExifValue>;
  exif?: Record<number, ExifValue>;
  gps?: Record<number, ExifValue>;
  /** A JPEG stored as the IFD1 thumbnail. */
  thumbnail?: Uint8Array;
}

function valueBytes(v: ExifValue): { type: number; count: number; bytes: Buffer } {
  switch (v.type) {
    case 'ascii': {
      const b = Buffer.from(`${v.value}\0`, 'utf8');
      return { type: TYPE.ASCII, count: b.length, bytes: b };
    }
    case 'short': {
      const b = Buffer.alloc(v.value.length * 2);
      v.value.forEach((x, i) => b.writeUInt16LE(x, i * 2));
      return { type: TYPE.SHORT, count: v.value.length, bytes: b };
    }
    case 'long': {
      const b = Buffer.alloc(v.value.length * 4);
      v.value.forEach((x, i) => b.writeUInt32LE(x, i * 4));
      return { type: TYPE.LONG, count: v.value.length, bytes: b };
    }
    case 'rational': {
      const b = Buffer.alloc(v.value.length * 8);
      v.value.forEach(([n, d], i) => {
        b.writeUInt32LE(n, i * 8);
        b.writeUInt32LE(d, i * 8 + 4);
      });
      return { type: TYPE.RATIONAL, count: v.value.length, bytes: b };
    }
    case 'byte':
      return { type: TYPE.BYTE, count: v.value.length, bytes: Buffer.from(v.value) };
    case 'undefined':
      return { type: TYPE.UNDEFINED, count: v.value.length, bytes: Buffer.from(v.value) };
  }
}

/**
 * Writes a little-endian TIFF structure: IFD0 (→ Exif IFD, GPS IFD) and, with a
 * thumbnail, IFD1 pointing at the thumbnail JPEG. Offsets are relative to the TIFF
 * header, as in an EXIF APP1 segment.
 */
export function buildTiff(spec: ExifSpec): Buffer {
  // Layout: header | IFD0 | ExifIFD | GPSIFD | IFD1 | data area | thumbnail
  type Ifd = { entries: [number, ExifValue][]; offset: number; size: number };
  const mk = (rec?: Record<number, ExifValue>): [number, ExifValue][] =>
    Object.entries(rec ?? {}).map(([k, v]) => [Number(k), v] as [number, ExifValue]);
  const ifd0: Ifd = { entries: mk(spec.ifd0), offset: 0, size: 0 };
  const exif: Ifd | undefined = spec.exif ? { entries: mk(spec.exif), offset: 0, size: 0 } : undefined;
  const gps: Ifd | undefined = spec.gps ? { entries: mk(spec.gps), offset: 0, size: 0 } : undefined;
  const ifd1: Ifd | undefined = spec.thumbnail
    ? {
        entries: [
          [TAG.Compression, short(6)],
          [TAG.ThumbnailOffset, { type: 'long', value: [0] }],
          [TAG.ThumbnailLength, { type: 'long', value: [spec.thumbnail.length] }],
        ],
        offset: 0,
        size: 0,
      }
    : undefined;
  // Pointer entries get placeholder values now, real offsets once laid out.
  if (exif) ifd0.entries.push([TAG.ExifIFD, { type: 'long', value: [0] }]);
  if (gps) ifd0.entries.push([TAG.GPSIFD, { type: 'long', value: [0] }]);
  const all = [ifd0, exif, gps, ifd1].filter((x): x is Ifd => !!x);
  for (const ifd of all) {
    ifd.entries.sort((a, b) => a[0] - b[0]);
    ifd.size = 2 + ifd.entries.length * 12 + 4;
  }
  let off = 8;
  for (const ifd of all) {
    ifd.offset = off;
    off += ifd.size;
  }
  const setLong = (ifd: Ifd, tag: number, v: number) => {
    const e = ifd.entries.find(([t]) => t === tag);
    if (e) e[1] = { type: 'long', value: [v] };
  };
  if (exif) setLong(ifd0, TAG.ExifIFD, exif.offset);
  if (gps) setLong(ifd0, TAG.GPSIFD, gps.offset);
  // Data area for values longer than 4 bytes.
  const dataParts: Buffer[] = [];
  let dataOff = off;
  const layout = new Map<Ifd, Buffer>();
  // Thumbnail offset depends on the data area size: compute data first with a placeholder.
  const encodeIfd = (ifd: Ifd, nextIfd: number): Buffer => {
    const b = Buffer.alloc(ifd.size);
    b.writeUInt16LE(ifd.entries.length, 0);
    ifd.entries.forEach(([tag, v], i) => {
      const { type, count, bytes } = valueBytes(v);
      const p = 2 + i * 12;
      b.writeUInt16LE(tag, p);
      b.writeUInt16LE(type, p + 2);
      b.writeUInt32LE(count, p + 4);
      if (bytes.length <= 4) bytes.copy(b, p + 8);
      else {
        b.writeUInt32LE(dataOff, p + 8);
        const padded = bytes.length % 2 ? Buffer.concat([bytes, Buffer.alloc(1)]) : bytes;
        dataParts.push(padded);
        dataOff += padded.length;
      }
    });
    b.writeUInt32LE(nextIfd, ifd.size - 4);
    return b;
  };
  // First pass to learn the data area size (thumbnail offset comes after it).
  const dryParts = dataParts.length;
  const saveOff = dataOff;
  for (const ifd of all) encodeIfd(ifd, 0);
  const thumbOffset = dataOff;
  dataParts.length = dryParts;
  dataOff = saveOff;
  if (ifd1) setLong(ifd1, TAG.ThumbnailOffset, thumbOffset);
  for (const ifd of all) layout.set(ifd, encodeIfd(ifd, ifd === ifd0 && ifd1 ? ifd1.offset : 0));
  const header = Buffer.from([0x49, 0x49, 0x2a, 0x00, 8, 0, 0, 0]);
  return Buffer.concat([header, ...all.map((i) => layout.get(i)!), ...dataParts, spec.thumbnail ? Buffer.from(spec.thumbnail) : Buffer.alloc(0)]);
}

/** EXIF UserComment bytes: 8-byte charset header plus the text. */
export function userComment(text: string, charset: 'ASCII' | 'UNICODE' = 'ASCII'): Uint8Array {
  if (charset === 'ASCII') return Buffer.concat([Buffer.from('ASCII\0\0\0', 'latin1'), Buffer.from(text, 'utf8')]);
  return Buffer.concat([Buffer.from('UNICODE\0', 'latin1'), Buffer.from(text, 'utf16le')]);
}

export function jpegWithExif(jpeg: Uint8Array, spec: ExifSpec, extra: Buffer[] = []): Buffer {
  return insertJpegSegments(jpeg, [exifSegment(buildTiff(spec)), ...extra], { dropApp1: true });
}

// ── PNG chunks ──────────────────────────────────────────────────────────────────

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function pngChunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

export type PngText =
  | { type: 'tEXt'; keyword: string; text: string }
  | { type: 'zTXt'; keyword: string; text: string }
  | { type: 'iTXt'; keyword: string; text: string; compressed?: boolean };

export function textChunk(t: PngText): Buffer {
  const kw = Buffer.from(`${t.keyword}\0`, 'latin1');
  if (t.type === 'tEXt') return pngChunk('tEXt', Buffer.concat([kw, Buffer.from(t.text, 'latin1')]));
  if (t.type === 'zTXt') return pngChunk('zTXt', Buffer.concat([kw, Buffer.from([0]), deflateSync(Buffer.from(t.text, 'latin1'))]));
  const body = t.compressed ? deflateSync(Buffer.from(t.text, 'utf8')) : Buffer.from(t.text, 'utf8');
  return pngChunk('iTXt', Buffer.concat([kw, Buffer.from([t.compressed ? 1 : 0, 0]), Buffer.from('\0\0', 'latin1'), body]));
}

/** Inserts chunks right before IEND. */
export function pngWithChunks(png: Uint8Array, chunks: Buffer[]): Buffer {
  const src = Buffer.from(png);
  const iend = src.lastIndexOf(Buffer.from('IEND', 'latin1')) - 4;
  if (iend < 8) throw new Error('no IEND');
  return Buffer.concat([src.subarray(0, iend), ...chunks, src.subarray(iend)]);
}

export function pngWithText(png: Uint8Array, texts: PngText[]): Buffer {
  return pngWithChunks(png, texts.map(textChunk));
}

// ── Running one detector ────────────────────────────────────────────────────────


/** Intake plus one detector, the way the engine runs it. */
export async function runDetector(detector: Detector, bytes: Uint8Array, name: string, ctx: AnalysisContext = {}): Promise<Signal[]> {
  const image = await intakeImage(bytes, { name });
  return detector.run(image, ctx);
}

/** Every signal must explain itself in both languages and carry evidence tags. */
export function assertExplained(s: Signal): void {
  for (const t of [s.summary, s.why]) {
    if (!t || !t.en.trim() || !t.zh.trim()) throw new Error(`${s.id}: summary/why must be given in en and zh`);
    if (!/[\u4e00-\u9fff]/.test(t.zh)) throw new Error(`${s.id}: zh text has no Chinese: ${t.zh}`);
  }
  if (!Array.isArray(s.evidence.tags)) throw new Error(`${s.id}: evidence.tags missing`);
  if (!(s.score >= 0 && s.score <= 1 && s.confidence >= 0 && s.confidence <= 1)) throw new Error(`${s.id}: score/confidence out of range`);
}
