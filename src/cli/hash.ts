// `claimlens hash FILE... [--dihedral] [--json]`: PDQ hashes of image files.
// Text output is the reference tool's (`pdq-photo-hasher`): one `hash,quality,file` line per
// file; with --dihedral the 8 variants on one line like its --pdqdih-across:
// `original,rotate90,rotate180,rotate270,flipX,flipY,flipPlus1,flipMinus1,quality,file`.
// Unlike the reference, the hash is of the image as a viewer sees it (EXIF orientation
// applied), which equals the reference's matching dihedral variant.
// Exit code 0 when every file was hashed, 1 when any could not be, 2 for bad usage.

import { isIntakeError } from '../forensics/errors.ts';
import { intakeImage } from '../forensics/intake.ts';
import { pdqHashImage } from '../forensics/pdq/index.ts';
import { UsageError, parse } from './args.ts';
import type { Command } from './main.ts';
import { readInputFile } from './input-file.ts';

const HELP = `Usage: claimlens hash FILE... [options]

Prints the PDQ perceptual hash (Meta's, as used on ThreatExchange) of each image:
"hash,quality,file", as Meta's pdq-photo-hasher does. Quality is 0–100; hashes of quality
below 50 are too unreliable to match on. EXIF orientation is applied (the image is hashed as
a viewer sees it).

Options:
  --dihedral   also print the 8 rotation/mirror variants, in the reference order
               (original, rotate90, rotate180, rotate270, flipX, flipY, flipPlus1, flipMinus1):
               "h1,...,h8,quality,file"
  --json       print { "images": [ { file, hash, quality, dihedral?, error? } ] }
  -h, --help   this help

Exit code: 0 when every file was hashed, 1 when any could not be, 2 for bad usage.`;

export interface HashedImage {
  file: string;
  hash?: string;
  quality?: number;
  dihedral?: string[];
  error?: { code: string; message: string };
}

export const command: Command = {
  summary: 'PDQ perceptual hashes of image files',
  async run(args) {
    const { values, positionals } = parse(args, {
      dihedral: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      process.stdout.write(HELP + '\n');
      return 0;
    }
    if (positionals.length === 0) throw new UsageError('no FILE given\n\n' + HELP);
    const images: HashedImage[] = [];
    for (const file of positionals) {
      const r = await hashFile(file, Boolean(values.dihedral));
      images.push(r);
      if (values.json) continue;
      // Streamed like the reference tool, one line per file as soon as it is hashed.
      if (r.error) process.stderr.write(`claimlens hash: ${file}: ${r.error.code}: ${r.error.message}\n`);
      else if (r.dihedral) process.stdout.write(`${r.dihedral.join(',')},${r.quality},${file}\n`);
      else process.stdout.write(`${r.hash},${r.quality},${file}\n`);
    }
    if (values.json) process.stdout.write(JSON.stringify({ images }, null, 2) + '\n');
    return images.some((i) => i.error) ? 1 : 0;
  },
};

export async function hashFile(file: string, dihedral: boolean): Promise<HashedImage> {
  const input = await readInputFile(file);
  if (input.error) return { file, error: input.error };
  const bytes = input.bytes;
  try {
    const image = await intakeImage(bytes, { name: file });
    const r = await pdqHashImage(image, { dihedral });
    return dihedral ? { file, hash: r.hash, quality: r.quality, dihedral: r.dihedral } : { file, hash: r.hash, quality: r.quality };
  } catch (e) {
    if (isIntakeError(e)) return { file, error: { code: e.code, message: e.message } };
    return { file, error: { code: 'hash_failed', message: e instanceof Error ? e.message : String(e) } };
  }
}
