// Hash lists as text files, for `claimlens match --index FILE`. Accepted lines:
//   hash<TAB>id
//   hash<TAB>quality<TAB>id
//   hash,quality,file                      (what `claimlens hash` and pdq-photo-hasher print)
//   h1,…,h8,quality,file                   (`claimlens hash --dihedral`; the first hash is used)
//   hash                                   (the id is then the line number)
// Blank lines and lines starting with # are skipped, and so is a first line that is a
// header (its first field is not a hash). Anything else is an error naming the line.

import { isHashHex } from './hash-words.ts';

export interface IndexFileEntry {
  hash: string;
  quality?: number;
  id: string;
  line: number;
}

export class IndexFileError extends Error {
  override name = 'IndexFileError';
}

export function parseIndexFile(text: string, source = 'index'): IndexFileEntry[] {
  const out: IndexFileEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const entry = parseLine(line, i + 1);
    if (entry) {
      out.push(entry);
      continue;
    }
    if (out.length === 0 && i === firstContentLine(lines) && !isHashHex(line.split(/[\t,]/)[0]!.trim())) continue; // header
    throw new IndexFileError(`${source}:${i + 1}: not a hash line (expected "hash<TAB>id", "hash<TAB>quality<TAB>id" or "hash,quality,file"): '${line.slice(0, 100)}'`);
  }
  return out;
}

function firstContentLine(lines: string[]): number {
  return lines.findIndex((l) => l.trim() && !l.trim().startsWith('#'));
}

function parseQuality(s: string): number | undefined {
  if (!/^\d{1,3}$/.test(s)) return undefined;
  const q = Number(s);
  return q <= 100 ? q : undefined;
}

function parseLine(line: string, lineNo: number): IndexFileEntry | undefined {
  if (line.includes('\t')) {
    const f = line.split('\t');
    const hash = f[0]!.trim().toLowerCase();
    if (!isHashHex(hash)) return undefined;
    if (f.length === 2 && f[1]!.trim()) return { hash, id: f[1]!.trim(), line: lineNo };
    if (f.length >= 3) {
      const quality = parseQuality(f[1]!.trim());
      const id = f.slice(2).join('\t').trim();
      if (quality === undefined || !id) return undefined;
      return { hash, quality, id, line: lineNo };
    }
    return undefined;
  }
  const f = line.split(',');
  const first = f[0]!.trim().toLowerCase();
  if (!isHashHex(first)) return undefined;
  if (f.length === 1) return { hash: first, id: String(lineNo), line: lineNo };
  // h1..h8,quality,file from --dihedral: skip the other seven variants
  let at = 1;
  if (f.length >= 10 && f.slice(1, 8).every((x) => isHashHex(x.trim()))) at = 8;
  const quality = parseQuality((f[at] ?? '').trim());
  const id = f.slice(at + 1).join(',').trim(); // a file name may itself contain commas
  if (quality === undefined || !id) return undefined;
  return { hash: first, quality, id, line: lineNo };
}
