// `claimlens match --index FILE... [--max-distance N] [--min-quality N] [--json] FILE...`
// Hashes each photo with PDQ (all 8 rotations/mirrors, re-hashed from the pixels unless
// --dct-variants) and lists the entries of the index
// files within the distance. Index files: see src/forensics/reuse/index-file.ts — the
// output of `claimlens hash` works as an index as it is.
// Exit code 0 when every photo was checked (matches or not), 1 when any could not be,
// 2 for bad usage or an unreadable index.

import { readFile } from 'node:fs/promises';
import pc from 'picocolors';
import { isIntakeError } from '../forensics/errors.ts';
import { intakeImage } from '../forensics/intake.ts';
import { DIHEDRAL_NAMES } from '../forensics/pdq/index.ts';
import { regionOfQuery, reuseQueryHashes, variantOfQuery, type VariantMode } from '../forensics/reuse/query-hashes.ts';
import { DEFAULT_MAX_DISTANCE, DEFAULT_MIN_QUALITY, ReuseIndex } from '../forensics/reuse/index.ts';
import { IndexFileError, parseIndexFile } from '../forensics/reuse/index-file.ts';
import { UsageError, parse } from './args.ts';
import type { Command } from './main.ts';
import { readInputFile } from './input-file.ts';

const HELP = `Usage: claimlens match --index FILE [--index FILE ...] [options] PHOTO...

Finds each photo (as is, rotated or mirrored) in a list of PDQ hashes.

Index file lines (blank lines and # comments are skipped):
  hash<TAB>id
  hash<TAB>quality<TAB>id
  hash,quality,file        what \`claimlens hash\` prints, so its output is an index:
                           claimlens hash photos/*.jpg > seen.csv
                           claimlens match --index seen.csv new.jpg

Options:
  --index FILE          hash list (repeatable)
  --max-distance N      largest Hamming distance (of 256 bits) that counts as a match (default ${DEFAULT_MAX_DISTANCE})
  --min-quality N       photos and index entries of lower PDQ quality are too flat to match (default ${DEFAULT_MIN_QUALITY})
  --dct-variants        look up the reference's 8 DCT variants (what other platforms compute;
                        about 3× faster to hash) instead of re-hashing the photo turned and
                        mirrored (default: the re-hashed orientations, which also find turned
                        copies of small photos that the DCT variants miss by 30–50 bits)
                        A phone screenshot (portrait, ≥ 1.6:1) is also looked up by the photo
                        inside it; such a match names the region.
  --json                print { maxDistance, index, images: [ { file, hash, quality, tooFlat?, matches, error? } ] }
  -h, --help            this help

Exit code: 0 when every photo was checked, 1 when any could not be, 2 for bad usage.`;

export interface MatchedImage {
  file: string;
  hash?: string;
  quality?: number;
  tooFlat?: boolean;
  matches?: { id: string; distance: number; variant: number; variantName: string; hash: string; region?: { x: number; y: number; width: number; height: number } }[];
  error?: { code: string; message: string };
}

function intOption(name: string, v: string | undefined, def: number, max: number): number {
  if (v === undefined) return def;
  if (!/^\d+$/.test(v) || Number(v) > max) throw new UsageError(`--${name} must be an integer 0–${max}, not '${v}'`);
  return Number(v);
}

export const command: Command = {
  summary: 'find photos in a list of PDQ hashes (rotations and mirrors included)',
  async run(args) {
    const { values, positionals } = parse(args, {
      index: { type: 'string', multiple: true },
      'max-distance': { type: 'string' },
      'min-quality': { type: 'string' },
      json: { type: 'boolean' },
      'dct-variants': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      process.stdout.write(HELP + '\n');
      return 0;
    }
    if (!values.index?.length) throw new UsageError('--index FILE is required\n\n' + HELP);
    if (positionals.length === 0) throw new UsageError('no PHOTO given\n\n' + HELP);
    const maxDistance = intOption('max-distance', values['max-distance'], DEFAULT_MAX_DISTANCE, 256);
    const minQuality = intOption('min-quality', values['min-quality'], DEFAULT_MIN_QUALITY, 100);

    // Load the index files; labels by index id.
    const index = new ReuseIndex();
    const labels: string[] = [];
    const hashes: string[] = [];
    let skippedFlat = 0;
    for (const file of values.index) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (e) {
        throw new UsageError(`cannot read index ${file}: ${(e as Error).message}`);
      }
      let entries;
      try {
        entries = parseIndexFile(text, file);
      } catch (e) {
        if (e instanceof IndexFileError) throw new UsageError(e.message);
        throw e;
      }
      for (const e of entries) {
        if (e.quality !== undefined && e.quality < minQuality) {
          skippedFlat++;
          continue;
        }
        const id = index.add(e.hash);
        labels[id] = e.id;
        hashes[id] = e.hash;
      }
    }
    if (!values.json) {
      process.stderr.write(
        pc.dim(`index: ${index.size} hash(es)${skippedFlat ? `, ${skippedFlat} skipped as too flat (quality < ${minQuality})` : ''}; max distance ${maxDistance}\n`),
      );
    }

    const images: MatchedImage[] = [];
    for (const file of positionals) {
      const r = await matchFile(file, index, labels, hashes, maxDistance, minQuality, values['dct-variants'] ? 'dct' : 'rehashed');
      images.push(r);
      if (!values.json) process.stdout.write(formatOne(r, minQuality));
    }
    if (values.json) {
      process.stdout.write(
        JSON.stringify({ maxDistance, minQuality, index: { files: values.index, entries: index.size, skippedTooFlat: skippedFlat }, images }, null, 2) + '\n',
      );
    }
    return images.some((i) => i.error) ? 1 : 0;
  },
};

async function matchFile(
  file: string,
  index: ReuseIndex,
  labels: string[],
  hashes: string[],
  maxDistance: number,
  minQuality: number,
  mode: VariantMode,
): Promise<MatchedImage> {
  const input = await readInputFile(file);
  if (input.error) return { file, error: input.error };
  const bytes = input.bytes;
  try {
    const image = await intakeImage(bytes, { name: file });
    const pdq = await reuseQueryHashes(image, mode);
    if (pdq.quality < minQuality) return { file, hash: pdq.hash, quality: pdq.quality, tooFlat: true, matches: [] };
    const matches = index.search(pdq.queries, maxDistance).map((m) => {
      const variant = variantOfQuery(pdq, m.variant);
      const region = regionOfQuery(pdq, m.variant);
      return {
        id: labels[m.id]!,
        distance: m.distance,
        variant,
        variantName: DIHEDRAL_NAMES[variant] ?? String(variant),
        hash: hashes[m.id]!,
        ...(region ? { region: { x: region.x, y: region.y, width: region.width, height: region.height } } : {}),
      };
    });
    return { file, hash: pdq.hash, quality: pdq.quality, matches };
  } catch (e) {
    if (isIntakeError(e)) return { file, error: { code: e.code, message: e.message } };
    return { file, error: { code: 'internal', message: e instanceof Error ? e.message : String(e) } };
  }
}

function formatOne(r: MatchedImage, minQuality: number): string {
  const lines = [pc.bold(r.file)];
  if (r.error) lines.push(`  ${pc.red('not checked')}: ${r.error.code} — ${r.error.message}`);
  else if (r.tooFlat) lines.push(`  ${pc.yellow('too flat to hash')} (PDQ quality ${r.quality} < ${minQuality}) 图片过于平淡，无法可靠哈希`);
  else if (!r.matches?.length) lines.push(`  ${pc.green('no match')}  (pdq ${r.hash}, quality ${r.quality})`);
  else {
    lines.push(`  ${pc.yellow(`${r.matches.length} match(es)`)}  (pdq ${r.hash}, quality ${r.quality})`);
    for (const m of r.matches) {
      const where = m.region ? `  (photo inside the screenshot at ${m.region.x},${m.region.y} ${m.region.width}×${m.region.height})` : '';
      lines.push(`  distance ${String(m.distance).padStart(3)}  ${m.variantName.padEnd(10)}  ${m.id}${where}`);
    }
  }
  return lines.join('\n') + '\n';
}
