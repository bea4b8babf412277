// Intake of video uploads: a merchant's packing video (a reference), a buyer's video of the
// damage, a merchant's answer with a video. The same promise as image intake: a file is
// accepted whole or refused with a typed IntakeError, never crashes the process.
//
// What is checked, with Debian's ffprobe/ffmpeg (spawned, bounded in time):
//   - the container by its bytes (MP4/MOV/3GP `ftyp`, Matroska/WebM EBML, AVI RIFF); HEIF and
//     AVIF also start with `ftyp` but are pictures (their brands tell them apart);
//   - a declared type or name that says picture while the bytes are a video, or the reverse
//     (`format_mismatch`);
//   - ffprobe reads a video stream with sane dimensions and duration (`pixel_limit`,
//     `too_large` for a video longer than the limit);
//   - every frame decodes (`ffmpeg -xerror -f null`): a cut file (`truncated`, e.g. an MP4
//     whose index is missing) or damaged data (`corrupt`) is refused, as a truncated JPEG is.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { IntakeError } from './errors.ts';
import { IMAGE_CONTENT_TYPES, type ImageFormat } from './types.ts';

export type VideoFormat = 'mp4' | 'mov' | '3gp' | 'webm' | 'mkv' | 'avi';

export const VIDEO_CONTENT_TYPES: Record<VideoFormat, string> = {
  mp4: 'video/mp4',
  mov: 'video/quicktime',
  '3gp': 'video/3gpp',
  webm: 'video/webm',
  mkv: 'video/x-matroska',
  avi: 'video/x-msvideo',
};

export interface VideoLimits {
  maxBytes: number;
  /** Longest accepted video, seconds (a packing video is a minute or two). */
  maxDurationSeconds: number;
  /** Largest frame, width × height. */
  maxPixels: number;
  /** Seconds the probe plus the decode check may take. */
  timeoutSeconds: number;
}

export const DEFAULT_VIDEO_LIMITS: VideoLimits = {
  maxBytes: 64 * 1024 * 1024,
  maxDurationSeconds: 300,
  maxPixels: 4096 * 4096,
  timeoutSeconds: 120,
};

export interface VideoSummary {
  sha256: string;
  format: VideoFormat;
  contentType: string;
  width: number;
  height: number;
  durationSeconds: number;
}

/** Image brands of the ISO base media format (HEIF, AVIF): pictures, not videos. */
const IMAGE_BRANDS = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1', 'avif', 'avis', 'avio', 'jpeg', 'jpgs']);

/** The video container the bytes are, or undefined when they are not a video. */
export function sniffVideo(bytes: Uint8Array): VideoFormat | undefined {
  const ascii = (from: number, to: number) => String.fromCharCode(...bytes.subarray(from, to));
  if (bytes.length >= 12 && ascii(4, 8) === 'ftyp') {
    const major = ascii(8, 12);
    if (IMAGE_BRANDS.has(major.trim())) return undefined;
    if (major === 'qt  ') return 'mov';
    if (major.startsWith('3g')) return '3gp';
    return 'mp4';
  }
  if (bytes.length >= 4 && bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3) {
    return ascii(0, Math.min(bytes.length, 64)).includes('webm') ? 'webm' : 'mkv';
  }
  if (bytes.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'AVI ') return 'avi';
  return undefined;
}

const IMAGE_EXT = /^\.(jpe?g|png|webp|gif|heic|heif|avif|tiff?|bmp)$/i;
const VIDEO_EXT = /^\.(mp4|m4v|mov|qt|3gp|3g2|webm|mkv|avi)$/i;

/** True when a declared type or file name says "video" (so a non-video body is a mismatch). */
export function declaresVideo(opts: { name?: string; contentType?: string }): boolean {
  return Boolean(opts.contentType?.toLowerCase().startsWith('video/') || (opts.name && VIDEO_EXT.test(extname(opts.name))));
}

/** Checks a video upload; resolves with its summary or throws an IntakeError. */
export async function intakeVideo(bytes: Uint8Array, opts: { name?: string; contentType?: string; limits?: Partial<VideoLimits>; ffmpegDir?: string } = {}): Promise<VideoSummary> {
  const limits = { ...DEFAULT_VIDEO_LIMITS, ...opts.limits };
  const label = opts.name ? `${opts.name}: ` : '';
  if (bytes.length === 0) throw new IntakeError('empty_file', `${label}the file is empty.`);
  if (bytes.length > limits.maxBytes) throw new IntakeError('too_large', `${label}the video is ${bytes.length} bytes; at most ${limits.maxBytes} are accepted.`);
  const format = sniffVideo(bytes);
  if (!format) {
    if (looksLikePicture(bytes)) throw new IntakeError('format_mismatch', `${label}declared as a video (${opts.contentType ?? opts.name}) but the bytes are a picture.`);
    throw new IntakeError('unsupported_format', `${label}not a video this service reads (MP4, MOV, 3GP, WebM, MKV, AVI).`);
  }
  const declared = opts.contentType?.toLowerCase();
  if ((declared && declared.startsWith('image/')) || (opts.name && IMAGE_EXT.test(extname(opts.name)))) {
    throw new IntakeError('format_mismatch', `${label}declared as a picture (${opts.contentType ?? opts.name}) but the bytes are a ${format} video.`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'claimlens-video-'));
  const file = join(dir, `upload.${format}`);
  const deadline = Date.now() + limits.timeoutSeconds * 1000;
  try {
    await writeFile(file, bytes);
    const probeOut = await run(tool(opts.ffmpegDir, 'ffprobe'), ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', file], deadline, label);
    let info: any;
    try {
      info = JSON.parse(probeOut.stdout || '{}');
    } catch {
      throw new IntakeError('corrupt', `${label}the video could not be read.`);
    }
    if (probeOut.code !== 0) throw classify(probeOut.stderr, label);
    const stream = (info.streams ?? []).find((s: any) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
    if (!stream) throw new IntakeError('corrupt', `${label}the file has no video stream.`);
    const width = Number(stream.width);
    const height = Number(stream.height);
    if (!(width > 0 && height > 0)) throw new IntakeError('corrupt', `${label}the video stream has no frame size.`);
    if (width * height > limits.maxPixels) throw new IntakeError('pixel_limit', `${label}frames of ${width}×${height} exceed the limit of ${limits.maxPixels} pixels.`);
    const duration = Number(info.format?.duration ?? stream.duration);
    if (!Number.isFinite(duration) || duration <= 0) throw new IntakeError('corrupt', `${label}the video has no duration.`);
    if (duration > limits.maxDurationSeconds) throw new IntakeError('too_large', `${label}the video lasts ${Math.round(duration)} s; at most ${limits.maxDurationSeconds} s are accepted.`);
    // Every frame must decode: a cut or damaged video is refused now, not found out by a reviewer.
    const dec = await run(tool(opts.ffmpegDir, 'ffmpeg'), ['-v', 'error', '-xerror', '-nostdin', '-threads', '1', '-i', file, '-map', '0:v:0', '-f', 'null', '-'], deadline, label);
    if (dec.code !== 0 || /error|invalid|corrupt|truncat|missing/i.test(dec.stderr)) throw classify(dec.stderr, label);
    return {
      sha256: createHash('sha256').update(bytes).digest('hex'),
      format,
      contentType: VIDEO_CONTENT_TYPES[format],
      width,
      height,
      durationSeconds: Math.round(duration * 1000) / 1000,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** JPEG, PNG, GIF, WebP or HEIF/AVIF magic. */
function looksLikePicture(b: Uint8Array): boolean {
  const ascii = (from: number, to: number) => String.fromCharCode(...b.subarray(from, Math.min(to, b.length)));
  return (
    (b[0] === 0xff && b[1] === 0xd8) ||
    (b[0] === 0x89 && ascii(1, 4) === 'PNG') ||
    ascii(0, 4) === 'GIF8' ||
    (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') ||
    (ascii(4, 8) === 'ftyp' && IMAGE_BRANDS.has(ascii(8, 12).trim()))
  );
}

/**
 * The media type of a stored format, image or video (undefined for one we do not store): what
 * an upload is stored and served as, never the type its client declared.
 */
export function mediaContentType(format: string): string | undefined {
  return Object.hasOwn(IMAGE_CONTENT_TYPES, format) ? IMAGE_CONTENT_TYPES[format as ImageFormat] : Object.hasOwn(VIDEO_CONTENT_TYPES, format) ? VIDEO_CONTENT_TYPES[format as VideoFormat] : undefined;
}

/** Whether a stored media format is one of the video containers. */
export function isVideoFormat(format: string | null | undefined): boolean {
  return format !== null && format !== undefined && format in VIDEO_CONTENT_TYPES;
}

function tool(dir: string | undefined, name: string): string {
  return dir ? join(dir, name) : name;
}

function classify(stderr: string, label: string): IntakeError {
  const first = stderr.split('\n').find((l) => l.trim()) ?? 'unreadable';
  if (/moov atom not found|end of file|truncat|partial file|premature/i.test(stderr)) {
    return new IntakeError('truncated', `${label}the video is cut short (${first.trim().slice(0, 160)}).`);
  }
  return new IntakeError('corrupt', `${label}the video is damaged (${first.trim().slice(0, 160)}).`);
}

function run(cmd: string, args: string[], deadline: number, label: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout.length < 1 << 20 ? (stdout += d) : undefined));
    child.stderr.on('data', (d) => (stderr.length < 1 << 16 ? (stderr += d) : undefined));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new IntakeError('decode_timeout', `${label}reading the video took too long and was stopped.`));
    }, Math.max(1, deadline - Date.now()));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new IntakeError('read_failed', `${label}${cmd} could not be run (${e.message}); install ffmpeg (Debian package ffmpeg).`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}
