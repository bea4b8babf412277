// Hex encoding and Hamming distance of 256-bit PDQ hashes.
//
// The reference stores a hash as sixteen 16-bit words; bit k of the hash (k = row*16 + column
// of the 16×16 DCT block) is bit k%16 of word k/16, and it prints the words from word 15 down
// to word 0, four hex digits each. Hex strings here are always that printed form, so they
// compare directly with the reference tool's output and with hashes exchanged between
// platforms. `hexToBytes` gives the 32 bytes in the order of the hex string (big-endian).

const HEX = '0123456789abcdef';
const NIBBLE_BITS = [0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4];

/** Value of one hex digit (either case), or -1. */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 97 && c <= 102) return c - 87; // a-f
  if (c >= 65 && c <= 70) return c - 55; // A-F
  return -1;
}

/** True for a 64-digit hex string (either case), the only form a PDQ hash has. */
export function isPdqHex(hex: string): boolean {
  return /^[0-9a-fA-F]{64}$/.test(hex);
}

export function hexToBytes(hex: string): Uint8Array {
  if (hex.length % 2 !== 0) throw new TypeError(`hex string has an odd length (${hex.length})`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = hexValue(hex.charCodeAt(2 * i));
    const lo = hexValue(hex.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) throw new TypeError(`not a hex string: ${JSON.stringify(hex.slice(0, 80))}`);
    out[i] = (hi << 4) | lo;
  }
  return out;
}

export function bytesToHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX[b[i]! >> 4]! + HEX[b[i]! & 15]!;
  return s;
}

/** Number of differing bits between two hex hashes of equal length. */
export function hammingDistance(a: string, b: string): number {
  if (a.length !== b.length) throw new TypeError(`hashes differ in length (${a.length} and ${b.length} hex digits)`);
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    const x = hexValue(a.charCodeAt(i));
    const y = hexValue(b.charCodeAt(i));
    if (x < 0 || y < 0) throw new TypeError('not a hex string');
    d += NIBBLE_BITS[x ^ y]!;
  }
  return d;
}

/**
 * Hex form of a 16×16 bit matrix given as 256 flags (index row*16 + column), in the
 * reference's word and digit order (see the header comment).
 */
export function bitsToHex(bits: Uint8Array): string {
  let s = '';
  for (let word = 15; word >= 0; word--) {
    let w = 0;
    for (let bit = 0; bit < 16; bit++) if (bits[word * 16 + bit]) w |= 1 << bit;
    s += HEX[(w >> 12) & 15]! + HEX[(w >> 8) & 15]! + HEX[(w >> 4) & 15]! + HEX[w & 15]!;
  }
  return s;
}
