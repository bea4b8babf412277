// 256-bit hashes as eight 32-bit words, and Hamming distance over them.
// The index never keeps a hash as a string or an object: words live in typed arrays.
// Word k holds hex digits 8k..8k+7 (big-endian, the way PDQ prints its hex), so the
// hex text and the word array describe the same 256 bits in the same order.

export const HASH_WORDS = 8;
export const HASH_BITS = 256;

const HEX64 = /^[0-9a-fA-F]{64}$/;

export class ReuseInputError extends Error {
  readonly code: 'bad_hash' | 'bad_id' | 'duplicate_id' | 'bad_option';
  constructor(code: ReuseInputError['code'], message: string) {
    super(message);
    this.name = 'ReuseInputError';
    this.code = code;
  }
}

export function isHashHex(s: unknown): s is string {
  return typeof s === 'string' && HEX64.test(s);
}

/** Parses 64 hex digits into `out[at..at+8)`; throws ReuseInputError for anything else. */
export function hexToWords(hex: string, out: Uint32Array = new Uint32Array(HASH_WORDS), at = 0): Uint32Array {
  if (!isHashHex(hex)) throw new ReuseInputError('bad_hash', `not a 256-bit hash in hex (64 hex digits): '${String(hex).slice(0, 80)}'`);
  for (let k = 0; k < HASH_WORDS; k++) out[at + k] = parseInt(hex.slice(8 * k, 8 * k + 8), 16) >>> 0;
  return out;
}

export function wordsToHex(words: Uint32Array, at = 0): string {
  let s = '';
  for (let k = 0; k < HASH_WORDS; k++) s += (words[at + k]! >>> 0).toString(16).padStart(8, '0');
  return s;
}

/** Number of set bits of a 32-bit integer (SWAR). */
export function popcount32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** Hamming distance between the hashes at a[ai..ai+8) and b[bi..bi+8). */
export function wordsDistance(a: Uint32Array, ai: number, b: Uint32Array, bi: number): number {
  let d = 0;
  for (let k = 0; k < HASH_WORDS; k++) d += popcount32((a[ai + k]! ^ b[bi + k]!) >>> 0);
  return d;
}

/** Hamming distance of two hex hashes (for tests and small jobs; the index uses words). */
export function hexDistance(a: string, b: string): number {
  return wordsDistance(hexToWords(a), 0, hexToWords(b), 0);
}
