// Reading one input file for a CLI command: a missing or odd path or an oversized file
// becomes a typed error entry for that file, so the other files are still processed.

import { readFile, stat } from 'node:fs/promises';
import { DEFAULT_LIMITS } from '../forensics/intake.ts';

export type InputFile =
  | { bytes: Uint8Array; error?: undefined }
  | { bytes?: undefined; error: { code: 'read_failed' | 'too_large'; message: string } };

export async function readInputFile(file: string, maxBytes = DEFAULT_LIMITS.maxBytes): Promise<InputFile> {
  try {
    const st = await stat(file);
    if (!st.isFile()) return { error: { code: 'read_failed', message: 'Not a regular file.' } };
    if (st.size > maxBytes) {
      // Refused before reading, so a huge file never lands in memory.
      return { error: { code: 'too_large', message: `The file is ${st.size} bytes; the limit is ${maxBytes} bytes.` } };
    }
    return { bytes: await readFile(file) };
  } catch (e) {
    return { error: { code: 'read_failed', message: `Cannot read the file: ${(e as Error).message}` } };
  }
}
