// Keyframes of a merchant's packing video, extracted with Debian's ffmpeg (spawned, with a
// time limit), become reference stills. We take the stream's key frames, frames at scene
// changes, and at least one frame a second, capped, so that a short video with a single key
// frame still yields views of the item.

import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { intakeImage } from '../intake.ts';
import type { DecodedImage } from '../types.ts';

export const VIDEO_EXT = /\.(mp4|m4v|mov|webm|mkv|avi|3gp)$/i;

/** A video that could not be turned into reference frames (code `video_failed`). */
export class VideoError extends Error {
  readonly code = 'video_failed' as const;
  constructor(message: string) {
    super(message);
    this.name = 'VideoError';
  }
}

export interface KeyframeOptions {
  /** Most frames to keep. */
  maxFrames?: number;
  /** Seconds ffmpeg may run before it is stopped. */
  timeoutSeconds?: number;
  /** Long side of the extracted frames, px (frames are only references, 1280 is plenty). */
  maxSide?: number;
  ffmpegPath?: string;
}

export interface Keyframe {
  index: number;
  image: DecodedImage;
}

/** Extracts keyframes from the video file at `path`. Throws VideoError on failure. */
export async function extractKeyframes(path: string, opts: KeyframeOptions = {}): Promise<Keyframe[]> {
  const maxFrames = opts.maxFrames ?? 12;
  const timeout = (opts.timeoutSeconds ?? 60) * 1000;
  const maxSide = opts.maxSide ?? 1280;
  const dir = await mkdtemp(join(tmpdir(), 'claimlens-keyframes-'));
  try {
    const select = "eq(pict_type\\,I)+gt(scene\\,0.3)+isnan(prev_selected_t)+gte(t-prev_selected_t\\,1)";
    const scale = `scale='if(gt(iw,ih),min(${maxSide},iw),-2)':'if(gt(iw,ih),-2,min(${maxSide},ih))'`;
    const args = [
      '-hide_banner', '-loglevel', 'error', '-nostdin',
      '-i', path,
      '-an', '-sn',
      '-vf', `select='${select}',${scale}`,
      '-fps_mode', 'vfr',
      '-frames:v', String(maxFrames),
      join(dir, 'frame-%03d.png'),
    ];
    await run(opts.ffmpegPath ?? 'ffmpeg', args, timeout);
    const files = (await readdir(dir)).filter((f) => f.endsWith('.png')).sort();
    if (files.length === 0) throw new VideoError('The video yielded no frames.');
    const out: Keyframe[] = [];
    for (const [index, f] of files.entries()) {
      const bytes = await readFile(join(dir, f));
      out.push({ index, image: await intakeImage(bytes, { name: f }) });
    }
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    let settled = false;
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(new VideoError(`ffmpeg took longer than ${Math.round(timeoutMs / 1000)} s and was stopped.`));
    }, timeoutMs);
    const finish = (e?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (e) reject(e);
      else resolve();
    };
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 4000) stderr += d.toString();
    });
    child.on('error', (e) => finish(new VideoError(`ffmpeg could not be started (${e.message}); install Debian's ffmpeg package.`)));
    child.on('close', (code) => {
      if (code === 0) finish();
      else finish(new VideoError(`ffmpeg could not read the video (exit ${code}): ${stderr.trim().split('\n').slice(-2).join(' ')}`));
    });
  });
}

/** extractKeyframes for a video held in memory (written to a private temp file first). */
export async function extractKeyframesFromBytes(bytes: Uint8Array, opts: KeyframeOptions = {}): Promise<Keyframe[]> {
  const dir = await mkdtemp(join(tmpdir(), 'claimlens-video-in-'));
  try {
    const file = join(dir, 'video');
    await writeFile(file, bytes);
    return await extractKeyframes(file, opts);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
