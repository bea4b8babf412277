// Metadata reading shared by the metadata detectors. exifr parses EXIF/TIFF, GPS, IFD1
// (thumbnail), IPTC and XMP; we add what it does not expose in a convenient form: the raw
// XMP packet text and PNG text chunks (tEXt, zTXt, iTXt), which is where generators and
// the GB 45438 implicit label live. Never throws: malformed blocks are recorded in
// `errors` and the rest is still returned.

import { inflateSync } from 'node:zlib';
import exifr from 'exifr';
import type { ImageFormat, ParsedMetadata } from './types.ts';

const EXIFR_OPTIONS = {
  tiff: true,
  exif: true,
  gps: true,
  ifd1: true,
  interop: false,
  makerNote: false,
  userComment: true,
  xmp: true,
  iptc: true,
  icc: false,
  jfif: false,
  ihdr: true,
  mergeOutput: true,
  translateKeys: true,
  translateValues: false,
  reviveValues: true,
  sanitize: true,
  multiSegment: true,
  silentErrors: true,
} as const;

export async function readMetadata(bytes: Uint8Array, format: ImageFormat): Promise<ParsedMetadata> {
  const errors: string[] = [];
  let tags: Record<string, unknown> = {};
  try {
    const out = (await exifr.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), EXIFR_OPTIONS)) as
      | Record<string, unknown>
      | undefined;
    if (out) {
      tags = out;
      const errs = out['errors'];
      if (Array.isArray(errs)) {
        for (const e of errs) errors.push(String(e instanceof Error ? e.message : e));
        delete tags['errors'];
      }
    }
  } catch (e) {
    errors.push(`exifr: ${e instanceof Error ? e.message : String(e)}`);
  }
  let pngText: Record<string, string> | undefined;
  if (format === 'png') {
    try {
      pngText = readPngText(bytes, errors);
    } catch (e) {
      errors.push(`png text: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const xmp = extractXmp(bytes, pngText);
  return { tags, xmp, pngText, errors };
}

/**
 * Finds XMP packets anywhere in the file (JPEG APP1, PNG iTXt, WebP XMP chunk, HEIF mime
 * item) by their `x:xmpmeta` envelope. Several packets (JPEG extended XMP, an
 * edited file with two) are joined with a newline.
 */
export function extractXmp(bytes: Uint8Array, pngText?: Record<string, string>): string | undefined {
  const packets: string[] = [];
  if (pngText?.['XML:com.adobe.xmp']) packets.push(pngText['XML:com.adobe.xmp']);
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
  let from = 0;
  for (let guard = 0; guard < 16; guard++) {
    const start = text.indexOf('<x:xmpmeta', from);
    if (start < 0) break;
    const endTag = text.indexOf('</x:xmpmeta>', start);
    if (endTag < 0) break;
    const end = endTag + '</x:xmpmeta>'.length;
    // XMP is UTF-8; re-decode the slice from the original bytes.
    packets.push(Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('utf8'));
    from = end;
  }
  const unique = [...new Set(packets)];
  return unique.length ? unique.join('\n') : undefined;
}

const PNG_SIGNATURE_LENGTH = 8;
/**
 * Upper bound on all text inflated from one PNG (zTXt and compressed iTXt together), so
 * neither one zTXt bomb nor many smaller ones can exhaust memory. Generator workflows
 * (ComfyUI) are well under 1 MB.
 */
const MAX_TEXT_INFLATE = 16 * 1024 * 1024;
/** At most this many text chunks are read; the rest are reported and skipped. */
const MAX_TEXT_CHUNKS = 256;

/**
 * Reads PNG tEXt, zTXt and iTXt chunks as keyword → text. A chunk that cannot be read
 * (bad compression, over the inflate budget) is skipped and described in `errors` when
 * given; the others are still returned.
 */
export function readPngText(bytes: Uint8Array, errors?: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const budget = { left: MAX_TEXT_INFLATE };
  let chunks = 0;
  let off = PNG_SIGNATURE_LENGTH;
  while (off + 8 <= bytes.length) {
    const len = view.getUint32(off);
    const type = String.fromCharCode(bytes[off + 4]!, bytes[off + 5]!, bytes[off + 6]!, bytes[off + 7]!);
    const dataStart = off + 8;
    const dataEnd = dataStart + len;
    if (dataEnd > bytes.length) break; // truncated chunk: stop, keep what we have
    const data = bytes.subarray(dataStart, dataEnd);
    if (type === 'tEXt' || type === 'zTXt' || type === 'iTXt') {
      if (++chunks > MAX_TEXT_CHUNKS) {
        errors?.push(`png text: more than ${MAX_TEXT_CHUNKS} text chunks; the rest were skipped`);
        break;
      }
      try {
        const parsed = parseTextChunk(type, data, budget);
        if (parsed) out[parsed.keyword] = parsed.text;
      } catch (e) {
        const tooLarge = (e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
        errors?.push(
          tooLarge
            ? `png text: ${type} chunk inflates beyond the ${MAX_TEXT_INFLATE}-byte text budget; skipped`
            : `png text: ${type} chunk unreadable (${e instanceof Error ? e.message : String(e)})`,
        );
      }
    }
    if (type === 'IEND') break;
    off = dataEnd + 4; // skip CRC
  }
  return out;
}

function inflateWithin(body: Uint8Array, budget: { left: number }): Buffer {
  if (budget.left <= 0) throw Object.assign(new Error('text budget exhausted'), { code: 'ERR_BUFFER_TOO_LARGE' });
  const text = inflateSync(body, { maxOutputLength: budget.left });
  budget.left -= text.length;
  return text;
}

function parseTextChunk(type: string, data: Uint8Array, budget: { left: number }): { keyword: string; text: string } | undefined {
  const nul = data.indexOf(0);
  if (nul <= 0 || nul > 79) return undefined; // PNG keywords are 1–79 bytes
  const keyword = Buffer.from(data.subarray(0, nul)).toString('latin1');
  if (type === 'tEXt') return { keyword, text: Buffer.from(data.subarray(nul + 1)).toString('latin1') };
  if (type === 'zTXt') return { keyword, text: inflateWithin(data.subarray(nul + 2), budget).toString('latin1') };
  // iTXt: keyword\0 compressionFlag compressionMethod languageTag\0 translatedKeyword\0 text
  const compressed = data[nul + 1] === 1;
  let p = nul + 3;
  const langEnd = data.indexOf(0, p);
  if (langEnd < 0) return undefined;
  p = langEnd + 1;
  const tkEnd = data.indexOf(0, p);
  if (tkEnd < 0) return undefined;
  const body = data.subarray(tkEnd + 1);
  const text = compressed ? inflateWithin(body, budget).toString('utf8') : Buffer.from(body).toString('utf8');
  return { keyword, text };
}
