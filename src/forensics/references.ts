// Loading of merchant reference media from the file system for the CLI: image files,
// packing videos (their keyframes become references), folders of them. (The service
// loads references from its blob store instead.)

import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { IntakeError } from './errors.ts';
import { intakeImage } from './intake.ts';
import { extractKeyframes, VIDEO_EXT, VideoError } from './reference/video.ts';
import type { ReferenceMedia } from './types.ts';

const IMAGE_EXT = /\.(jpe?g|jfif|png|webp|heic|heif|hif|avif)$/i;

export interface LoadedReferences {
  references: ReferenceMedia[];
  /**
   * What could not be used. `named` is set when the path given itself could not be opened
   * (missing, unreadable), as opposed to one file of a folder or a file that did not decode.
   */
  problems: { path: string; message: string; named?: boolean }[];
}

/** Each path is a file or a folder (every image and video in it, not recursive). */
export async function loadReferences(paths: string[]): Promise<LoadedReferences> {
  const out: LoadedReferences = { references: [], problems: [] };
  for (const p of paths) {
    let files: string[];
    try {
      const st = await stat(p);
      files = st.isDirectory()
        ? (await readdir(p)).filter((f) => IMAGE_EXT.test(f) || VIDEO_EXT.test(f)).sort().map((f) => join(p, f))
        : [p];
    } catch (e) {
      out.problems.push({ path: p, message: (e as Error).message, named: true });
      continue;
    }
    for (const f of files) {
      if (VIDEO_EXT.test(f)) {
        try {
          for (const k of await extractKeyframes(f)) {
            out.references.push({ id: `${basename(f)}#keyframe-${k.index + 1}`, kind: 'video_keyframe', image: k.image });
          }
        } catch (e) {
          out.problems.push({ path: f, message: e instanceof VideoError || e instanceof IntakeError ? `${e.code}: ${e.message}` : (e as Error).message });
        }
        continue;
      }
      try {
        const image = await intakeImage(await readFile(f), { name: f });
        out.references.push({ id: basename(f), kind: 'listing', image });
      } catch (e) {
        out.problems.push({ path: f, message: e instanceof IntakeError ? `${e.code}: ${e.message}` : (e as Error).message });
      }
    }
  }
  return out;
}
