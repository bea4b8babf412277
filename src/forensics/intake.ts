// Image intake: the only door through which bytes become a DecodedImage.
// It sniffs the real format from the bytes, enforces byte and pixel limits before any
// full decode (pixel bombs are refused from their header), decodes with libvips (sharp)
// or, for HEIC/HEIF, libheif's WebAssembly build (sharp's prebuilt libvips has no HEVC),
// applies EXIF orientation, and maps every failure to a typed IntakeError.

import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { inflateSync } from 'node:zlib';
import sharp from 'sharp';
import { IntakeError } from './errors.ts';
import { readMetadata } from './metadata.ts';
import type { DecodedImage, ImageFormat, ParsedMetadata, RawPixels } from './types.ts';
import { heifDataBeyondEnd } from './heif-container.ts';

export interface IntakeLimits {
  /** Largest accepted file, bytes. */
  maxBytes: number;
  /** Largest accepted image, width × height pixels. */
  maxPixels: number;
  /** Largest accepted side, pixels. */
  maxSide: number;
  /** Seconds a single decode may take before it is abandoned. */
  decodeTimeoutSeconds: number;
}

export const DEFAULT_LIMITS: IntakeLimits = {
  // Phone photos are 2–15 MB; 64 MB leaves room for 200 MP sensors and RAW-ish PNGs.
  maxBytes: 64 * 1024 * 1024,
  // 120 MP covers every phone camera on the market; beyond that it is a bomb or a scan.
  maxPixels: 120_000_000,
  maxSide: 30_000,
  decodeTimeoutSeconds: 30,
};

export interface IntakeOptions {
  /** File name or declared name; its extension is checked against the bytes. */
  name?: string;
  /** Declared MIME type (e.g. from an HTTP part); checked against the bytes. */
  contentType?: string;
  limits?: Partial<IntakeLimits>;
}

const EXTENSION_FORMATS: Record<string, ImageFormat> = {
  jpg: 'jpeg', jpeg: 'jpeg', jpe: 'jpeg', jfif: 'jpeg',
  png: 'png', webp: 'webp', heic: 'heif', heif: 'heif', hif: 'heif',
  avif: 'avif', gif: 'gif', tif: 'tiff', tiff: 'tiff',
};

const MIME_FORMATS: Record<string, ImageFormat> = {
  'image/jpeg': 'jpeg', 'image/jpg': 'jpeg', 'image/pjpeg': 'jpeg',
  'image/png': 'png', 'image/webp': 'webp', 'image/heic': 'heif', 'image/heif': 'heif',
  'image/heic-sequence': 'heif', 'image/heif-sequence': 'heif',
  'image/avif': 'avif', 'image/gif': 'gif', 'image/tiff': 'tiff',
};

/** Formats the engine accepts for analysis. GIF/TIFF are sniffed only to name them in errors. */
const ACCEPTED: ReadonlySet<ImageFormat> = new Set(['jpeg', 'png', 'webp', 'heif', 'avif']);

const HEIF_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs', 'mif1', 'msf1', 'mif2']);
const AVIF_BRANDS = new Set(['avif', 'avis']);

/** Identifies the image format from the first bytes; undefined when it is not an image we know. */
export function sniffFormat(bytes: Uint8Array): ImageFormat | undefined {
  const b = bytes;
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) return 'png';
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') return 'webp';
  if (b.length >= 6 && (ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a')) return 'gif';
  if (b.length >= 4 && ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a))) return 'tiff';
  if (b.length >= 16 && ascii(b, 4, 4) === 'ftyp') {
    const boxSize = Math.min(readU32(b, 0), b.length, 256);
    const brands: string[] = [ascii(b, 8, 4)];
    for (let o = 16; o + 4 <= boxSize; o += 4) brands.push(ascii(b, o, 4));
    if (brands.some((x) => AVIF_BRANDS.has(x))) return 'avif';
    if (brands.some((x) => HEIF_BRANDS.has(x))) return 'heif';
  }
  return undefined;
}

function ascii(b: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = off; i < off + len && i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}

function readU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

export function declaredFormat(opts: IntakeOptions): { format: ImageFormat; source: string } | undefined {
  if (opts.contentType) {
    const mime = opts.contentType.split(';')[0]!.trim().toLowerCase();
    const f = MIME_FORMATS[mime];
    if (f) return { format: f, source: `content type ${mime}` };
  }
  if (opts.name) {
    const m = /\.([A-Za-z0-9]+)$/.exec(opts.name);
    const f = m ? EXTENSION_FORMATS[m[1]!.toLowerCase()] : undefined;
    if (f) return { format: f, source: `file name ${opts.name}` };
  }
  return undefined;
}

function describeBytes(bytes: Uint8Array): string {
  const head = bytes.subarray(0, 64);
  let printable = 0;
  for (const c of head) if (c === 9 || c === 10 || c === 13 || (c >= 32 && c < 127)) printable++;
  if (head.length > 0 && printable / head.length > 0.9) return 'text';
  return 'unrecognised binary data';
}

/** Checks the bytes and decodes them. Throws IntakeError for anything it refuses. */
export async function intakeImage(input: Uint8Array, opts: IntakeOptions = {}): Promise<DecodedImage> {
  const limits: IntakeLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const bytes = input;
  if (bytes.length === 0) throw new IntakeError('empty_file', 'The file is empty (0 bytes).');
  if (bytes.length > limits.maxBytes) {
    throw new IntakeError('too_large', `The file is ${bytes.length} bytes; the limit is ${limits.maxBytes} bytes.`);
  }
  const format = sniffFormat(bytes);
  const declared = declaredFormat(opts);
  if (!format) {
    const what = describeBytes(bytes);
    const claimed = declared ? ` although its ${declared.source} says ${declared.format.toUpperCase()}` : '';
    throw new IntakeError('unsupported_format', `The file is ${what}, not a JPEG, PNG, WebP or HEIC image${claimed}.`);
  }
  if (declared && declared.format !== format && !(declared.format === 'heif' && format === 'avif')) {
    throw new IntakeError(
      'format_mismatch',
      `The ${declared.source} says ${declared.format.toUpperCase()} but the bytes are ${format.toUpperCase()}.`,
    );
  }
  if (!ACCEPTED.has(format)) {
    throw new IntakeError('unsupported_format', `${format.toUpperCase()} images are not accepted; send JPEG, PNG, WebP or HEIC.`);
  }
  if (format === 'heif' || format === 'avif') {
    // libheif paints a cut file's missing tiles green instead of failing (heif-container.ts)
    const beyond = heifDataBeyondEnd(bytes);
    if (beyond) throw new IntakeError('truncated', `The image data ends early: the file is truncated (${beyond}).`);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const decoded = format === 'heif' ? await decodeHeif(bytes, limits) : await decodeWithSharp(bytes, format, limits);
  return makeDecodedImage(bytes, sha256, format, decoded.pixels, decoded.orientation);
}

interface Decoded {
  pixels: RawPixels;
  orientation: number;
}

export function checkDimensions(width: number, height: number, limits: IntakeLimits): void {
  if (!(width > 0 && height > 0)) throw new IntakeError('corrupt', 'The image header gives no valid size.');
  if (width > limits.maxSide || height > limits.maxSide || width * height > limits.maxPixels) {
    throw new IntakeError(
      'pixel_limit',
      `The image is ${width}×${height} pixels (${((width * height) / 1e6).toFixed(1)} MP); the limit is ${(limits.maxPixels / 1e6).toFixed(0)} MP and ${limits.maxSide} px a side.`,
    );
  }
}

/**
 * Whether the file stops before its format's end marker: a JPEG without EOI (FF D9, trailing
 * zero padding allowed), a PNG without IEND. Used to name a decode failure when libvips gives
 * only its generic "warning treated as error" (under concurrency the warning's own text can be
 * lost, since warnings are collected per thread).
 */
export function endsEarly(bytes: Uint8Array, format: ImageFormat): boolean {
  if (format === 'jpeg') {
    let end = bytes.length;
    while (end > 2 && bytes[end - 1] === 0) end--;
    return !(bytes[end - 2] === 0xff && bytes[end - 1] === 0xd9);
  }
  if (format === 'png') {
    const tail = Buffer.from(bytes.buffer, bytes.byteOffset + Math.max(0, bytes.length - 64), Math.min(64, bytes.length)).toString('latin1');
    return !tail.includes('IEND');
  }
  return false;
}

function mapSharpError(e: unknown, file?: { bytes: Uint8Array; format: ImageFormat }): IntakeError {
  const msg = e instanceof Error ? e.message : String(e);
  if (e instanceof IntakeError) return e;
  if (file && /warning treated as error/i.test(msg) && !/corrupt|premature|truncat|end of/i.test(msg) && endsEarly(file.bytes, file.format)) {
    return new IntakeError('truncated', `The image data ends early: the file is truncated (no end marker; ${msg}).`, { cause: e });
  }
  if (/timeout/i.test(msg)) return new IntakeError('decode_timeout', 'Decoding took too long and was abandoned.', { cause: e });
  if (/pixel limit/i.test(msg)) return new IntakeError('pixel_limit', `The image exceeds the pixel limit (${msg}).`, { cause: e });
  if (/corrupt/i.test(msg) && !/premature end of (input|jpeg image)/i.test(msg)) {
    return new IntakeError('corrupt', `The image data is corrupt and cannot be decoded (${msg}).`, { cause: e });
  }
  if (/premature end|truncat|end of (input|file)|unexpected end/i.test(msg)) {
    return new IntakeError('truncated', `The image data ends early: the file is truncated (${msg}).`, { cause: e });
  }
  return new IntakeError('corrupt', `The image data is corrupt and cannot be decoded (${msg}).`, { cause: e });
}

/** PNG chunks libvips needs to render the pixels the way a viewer does. */
const PNG_RENDER_CHUNKS = new Set(['IHDR', 'PLTE', 'IDAT', 'IEND', 'tRNS', 'gAMA', 'cHRM', 'sRGB', 'iCCP', 'sBIT', 'bKGD', 'pHYs', 'eXIf', 'cICP', 'acTL', 'fcTL', 'fdAT']);
/** A real ICC profile is well under this; a larger inflated iCCP is a decompression bomb. */
const MAX_ICC_BYTES = 4 * 1024 * 1024;

/**
 * The PNG as libvips should see it: text chunks (tEXt/zTXt/iTXt) and other ancillary
 * chunks dropped, an iCCP that inflates beyond MAX_ICC_BYTES dropped. libvips inflates
 * every zTXt/iTXt into its metadata, so forty 15 MB zTXt bombs in a 600 KB file cost
 * gigabytes; the metadata reader reads text chunks itself, under its own budget.
 * Critical chunks and a broken chunk structure are passed through untouched so the
 * decoder reports them.
 */
export function pngForDecode(bytes: Uint8Array): Uint8Array {
  const keep: Uint8Array[] = [bytes.subarray(0, 8)];
  let dropped = false;
  let off = 8;
  while (off < bytes.length) {
    if (off + 12 > bytes.length) {
      keep.push(bytes.subarray(off));
      break;
    }
    const len = readU32(bytes, off);
    const type = ascii(bytes, off + 4, 4);
    const end = off + 12 + len;
    if (end > bytes.length) {
      keep.push(bytes.subarray(off));
      break;
    }
    const critical = (bytes[off + 4]! & 0x20) === 0;
    let pass = critical || PNG_RENDER_CHUNKS.has(type);
    if (type === 'iCCP') pass = iccInflatesWithin(bytes.subarray(off + 8, off + 8 + len), MAX_ICC_BYTES);
    if (pass) keep.push(bytes.subarray(off, end));
    else dropped = true;
    off = end;
    if (type === 'IEND') break;
  }
  return dropped ? Buffer.concat(keep) : bytes;
}

function iccInflatesWithin(data: Uint8Array, max: number): boolean {
  const nul = data.indexOf(0);
  if (nul < 0 || nul + 2 > data.length) return true; // malformed: let the decoder judge it
  try {
    inflateSync(data.subarray(nul + 2), { maxOutputLength: max });
    return true;
  } catch (e) {
    return (e as { code?: string }).code !== 'ERR_BUFFER_TOO_LARGE';
  }
}

/**
 * Reads the size and EXIF orientation from the header alone and enforces the pixel limits
 * before any pixel is decoded (a pixel bomb is refused here).
 */
async function readHeader(bytes: Uint8Array, limits: IntakeLimits): Promise<{ width: number; height: number; orientation: number }> {
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
  try {
    meta = await sharp(bytes, { limitInputPixels: false, failOn: 'none' }).metadata();
  } catch (e) {
    throw mapSharpError(e);
  }
  if (meta.width === undefined || meta.height === undefined) throw new IntakeError('corrupt', 'The image header gives no size.');
  checkDimensions(meta.width, meta.height, limits);
  const orientation = meta.orientation && meta.orientation >= 1 && meta.orientation <= 8 ? meta.orientation : 1;
  return { width: meta.width, height: meta.height, orientation };
}

async function decodeWithSharp(input: Uint8Array, format: ImageFormat, limits: IntakeLimits): Promise<Decoded> {
  const bytes = format === 'png' ? pngForDecode(input) : input;
  const meta = await readHeader(bytes, limits);
  const orientation = meta.orientation;
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: 'warning', sequentialRead: true })
      .timeout({ seconds: limits.decodeTimeoutSeconds })
      .rotate() // apply EXIF orientation: pixels as a viewer sees them
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new IntakeError('corrupt', `Unexpected channel count ${info.channels} after decode.`);
    void format;
    return { pixels: { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: 3 }, orientation };
  } catch (e) {
    throw mapSharpError(e, { bytes, format });
  }
}

// HEIC/HEIF is decoded by libheif's WebAssembly build in a worker thread. A WASM decode
// runs synchronously, so on the main thread a malicious file could block the event loop
// for as long as it likes, and a WASM abort would leave the module unusable; in a worker
// the decode is bounded by limits.decodeTimeoutSeconds (the worker is terminated) and a
// crashed decoder is replaced by a fresh one. The worker is created on first HEIC, kept
// for the next ones, and does not keep the process alive while idle.

const HEIF_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
// libheif prints parse failures itself; the error we return says the same, once.
console.log = console.warn = console.error = () => {};
const { HeifDecoder } = require(workerData.libheifPath);
// One decoder for the worker's life: each decode() frees the previous file's context,
// while a new HeifDecoder per file would leak every context (and its copy of the file).
const decoder = new HeifDecoder();
parentPort.on('message', ({ id, bytes, maxPixels, maxSide }) => {
  let images = [];
  let handedOver = false; // display() calls back later (setTimeout); the callback frees then
  const release = (list) => { for (const im of list) { try { im.free && im.free(); } catch {} } };
  const fail = (code, message, recycle) => parentPort.postMessage({ id, error: { code, message }, recycle });
  try {
    try {
      images = decoder.decode(new Uint8Array(bytes));
    } catch (e) {
      return fail('corrupt', 'The HEIF container cannot be read (' + (e && e.message || String(e)) + ').', true);
    }
    const primary = images[0];
    if (!primary) return fail('corrupt', 'The HEIF file holds no decodable image.');
    const width = primary.get_width();
    const height = primary.get_height();
    if (!(width > 0 && height > 0)) return fail('corrupt', 'The image header gives no valid size.');
    if (width > maxSide || height > maxSide || width * height > maxPixels) {
      return parentPort.postMessage({ id, width, height, tooLarge: true });
    }
    const rgba = new Uint8ClampedArray(width * height * 4);
    const all = images;
    primary.display({ data: rgba, width, height }, (r) => {
      try {
        if (!r) return fail('corrupt', 'The HEIF image data could not be decoded.');
        const rgb = new Uint8Array(width * height * 3);
        for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
          rgb[i] = rgba[j]; rgb[i + 1] = rgba[j + 1]; rgb[i + 2] = rgba[j + 2];
        }
        parentPort.postMessage({ id, width, height, rgb: rgb.buffer }, [rgb.buffer]);
      } catch (e) {
        fail('corrupt', 'The HEIF image data could not be decoded (' + (e && e.message || String(e)) + ').', true);
      } finally {
        release(all);
      }
    });
    handedOver = true;
  } catch (e) {
    fail('corrupt', 'The HEIF image data could not be decoded (' + (e && e.message || String(e)) + ').', true);
  } finally {
    if (!handedOver) release(images);
  }
});
`;

interface HeifReply {
  id: number;
  error?: { code: 'corrupt'; message: string };
  /** The decoder may be in a bad state (WASM abort, exception mid-decode): replace it. */
  recycle?: boolean;
  tooLarge?: boolean;
  width?: number;
  height?: number;
  rgb?: ArrayBuffer;
}

interface HeifJob {
  bytes: Uint8Array;
  limits: IntakeLimits;
  resolve(d: Decoded): void;
  reject(e: IntakeError): void;
}

class HeifWorker {
  private worker: Worker | undefined;
  private queue: HeifJob[] = [];
  private running: { id: number; job: HeifJob; timer: NodeJS.Timeout } | undefined;
  private nextId = 1;

  decode(bytes: Uint8Array, limits: IntakeLimits): Promise<Decoded> {
    return new Promise((resolve, reject) => {
      this.queue.push({ bytes, limits, resolve, reject });
      this.pump();
    });
  }

  private spawn(): Worker {
    const libheifPath = createRequire(import.meta.url).resolve('libheif-js/wasm-bundle');
    // execArgv []: the worker runs plain CommonJS and needs none of the parent's loaders (tsx).
    const w = new Worker(HEIF_WORKER_SOURCE, { eval: true, workerData: { libheifPath }, execArgv: [] });
    w.on('message', (m: HeifReply) => this.onReply(w, m));
    w.on('error', (e) => this.onDeath(w, `the HEIF decoder crashed (${e.message})`));
    w.on('exit', (code) => this.onDeath(w, `the HEIF decoder stopped (exit code ${code})`));
    return w;
  }

  private pump(): void {
    if (this.running) return;
    const job = this.queue.shift();
    if (!job) {
      this.worker?.unref(); // idle: do not keep the process alive
      return;
    }
    this.worker ??= this.spawn();
    this.worker.ref();
    const id = this.nextId++;
    const timer = setTimeout(() => {
      this.finish(id, () => job.reject(new IntakeError('decode_timeout', `Decoding took longer than ${job.limits.decodeTimeoutSeconds} s and was abandoned.`)));
      this.recycle();
    }, job.limits.decodeTimeoutSeconds * 1000);
    this.running = { id, job, timer };
    const copy = new Uint8Array(job.bytes.length); // a copy we can transfer; the caller keeps its bytes
    copy.set(job.bytes);
    this.worker.postMessage({ id, bytes: copy.buffer, maxPixels: job.limits.maxPixels, maxSide: job.limits.maxSide }, [copy.buffer]);
  }

  private finish(id: number, settle: () => void): void {
    if (this.running?.id !== id) return;
    clearTimeout(this.running.timer);
    this.running = undefined;
    settle();
    queueMicrotask(() => this.pump());
  }

  private recycle(): void {
    const w = this.worker;
    this.worker = undefined;
    if (w) {
      w.removeAllListeners('exit');
      w.on('exit', () => {});
      void w.terminate();
    }
  }

  private onReply(w: Worker, m: HeifReply): void {
    if (w !== this.worker || !this.running) return;
    const { job } = this.running;
    if (m.recycle) this.recycle();
    this.finish(m.id, () => {
      if (m.error) return job.reject(new IntakeError(m.error.code, m.error.message));
      const width = m.width!;
      const height = m.height!;
      try {
        checkDimensions(width, height, job.limits);
      } catch (e) {
        return job.reject(e as IntakeError);
      }
      if (!m.rgb || m.rgb.byteLength !== width * height * 3) return job.reject(new IntakeError('corrupt', 'The HEIF decoder returned no pixels.'));
      // libheif applies the container's rotation/mirror properties (irot/imir), which
      // are authoritative for HEIF; EXIF orientation inside a HEIC is informational only.
      job.resolve({ pixels: { data: new Uint8Array(m.rgb), width, height, channels: 3 }, orientation: 1 });
    });
  }

  private onDeath(w: Worker, why: string): void {
    if (w !== this.worker) return;
    this.worker = undefined;
    const r = this.running;
    if (r) this.finish(r.id, () => r.job.reject(new IntakeError('corrupt', `The HEIF image could not be decoded: ${why}.`)));
  }
}

let heifWorker: HeifWorker | undefined;

async function decodeHeif(bytes: Uint8Array, limits: IntakeLimits): Promise<Decoded> {
  heifWorker ??= new HeifWorker();
  return heifWorker.decode(bytes, limits);
}

function makeDecodedImage(bytes: Uint8Array, sha256: string, format: ImageFormat, rgb: RawPixels, orientation: number): DecodedImage {
  let grayCache: RawPixels | undefined;
  let metaCache: Promise<ParsedMetadata> | undefined;
  return {
    bytes,
    sha256,
    format,
    width: rgb.width,
    height: rgb.height,
    orientation,
    rgb: async () => rgb,
    gray: async () => {
      if (!grayCache) grayCache = toGray(rgb);
      return grayCache;
    },
    metadata: () => {
      if (!metaCache) metaCache = readMetadata(bytes, format);
      return metaCache;
    },
  };
}

/** Rec. 601 luma, the same weights JPEG uses. */
export function toGray(p: RawPixels): RawPixels {
  if (p.channels === 1) return p;
  const n = p.width * p.height;
  const out = new Uint8Array(n);
  const d = p.data;
  const c = p.channels;
  for (let i = 0, j = 0; i < n; i++, j += c) {
    out[i] = (d[j]! * 299 + d[j + 1]! * 587 + d[j + 2]! * 114 + 500) / 1000;
  }
  return { data: out, width: p.width, height: p.height, channels: 1 };
}

/** Wraps already-decoded RGB pixels (e.g. a video keyframe) as a DecodedImage. */
export function imageFromPixels(bytes: Uint8Array, format: ImageFormat, rgb: RawPixels): DecodedImage {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return makeDecodedImage(bytes, sha256, format, rgb, 1);
}

/** What validateImage learned about an upload it accepts. */
export interface ValidatedImage {
  sha256: string;
  format: ImageFormat;
  /** Size as a viewer shows it (EXIF orientation applied), like intakeImage's DecodedImage. */
  width: number;
  height: number;
  orientation: number;
}

/**
 * JPEG decode scale of validateImage. 1/8 (DC only) would cost about half of a full decode,
 * but it does NOT refuse everything the full decode refuses: on 3000 mutated files, 15
 * baseline JPEGs with damaged entropy-coded data passed at 1/8 and 1/4 while the full
 * decode reported "Corrupt JPEG data: premature end of data segment" (truncations were all
 * caught). At 1/2 the two agreed on every file, so 1/2 it is (test/http/validate-upload).
 */
const JPEG_SHRINK = 2;

/**
 * The upload check: refuses exactly what intakeImage refuses (same error codes; compared
 * on the shared fixtures and on mutated JPEG/WebP/PNG files in test/http/validate-upload),
 * without handing out pixels (the full decode happens in the background analysis).
 * Sniffing, the declared-type check and the byte and pixel limits come from the header as
 * in intakeImage. JPEG and WebP are then decoded at reduced scale with failOn 'warning'
 * (libjpeg's DCT scaling and libwebp's scaling still decode the whole entropy-coded
 * stream), without EXIF rotation or colour conversion, so the pixel memory is 1/4 of the
 * full decode's. PNG (every IDAT byte must be inflated anyway), HEIF and AVIF run
 * intakeImage itself. Measured on the 303 KB 1600×1200 bench photo: about the same CPU as
 * intakeImage (libjpeg's Huffman decoding dominates), so the saving is memory, not time.
 */
export async function validateImage(input: Uint8Array, opts: IntakeOptions = {}): Promise<ValidatedImage> {
  const limits: IntakeLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const bytes = input;
  const format = bytes.length > 0 ? sniffFormat(bytes) : undefined;
  if (format !== 'jpeg' && format !== 'webp') {
    // Every refusal (empty, too large, unknown, mismatch, unsupported) and every other
    // accepted format is intakeImage's.
    const im = await intakeImage(bytes, opts);
    return { sha256: im.sha256, format: im.format, width: im.width, height: im.height, orientation: im.orientation };
  }
  if (bytes.length > limits.maxBytes) {
    throw new IntakeError('too_large', `The file is ${bytes.length} bytes; the limit is ${limits.maxBytes} bytes.`);
  }
  const declared = declaredFormat(opts);
  if (declared && declared.format !== format) {
    throw new IntakeError('format_mismatch', `The ${declared.source} says ${declared.format.toUpperCase()} but the bytes are ${format.toUpperCase()}.`);
  }
  const meta = await readHeader(bytes, limits);
  const orientation = meta.orientation;
  try {
    const width = Math.max(1, Math.floor(meta.width / JPEG_SHRINK));
    const height = Math.max(1, Math.floor(meta.height / JPEG_SHRINK));
    const { info } = await sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: 'warning', sequentialRead: true })
      .timeout({ seconds: limits.decodeTimeoutSeconds })
      .resize(width, height, { fit: 'fill', kernel: 'nearest', fastShrinkOnLoad: true })
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (!(info.width > 0 && info.height > 0)) throw new IntakeError('corrupt', 'The image could not be decoded.');
  } catch {
    // Refused: the full intake names the reason. (A resize pipeline decodes on libvips'
    // own threads, so under concurrency the warning's text can be lost and only "warning
    // treated as error" reaches us; the full decode gives the same code as everywhere else.)
    const im = await intakeImage(bytes, opts);
    return { sha256: im.sha256, format: im.format, width: im.width, height: im.height, orientation: im.orientation };
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const [width, height] = orientation >= 5 ? [meta.height, meta.width] : [meta.width, meta.height];
  return { sha256, format, width, height, orientation };
}
