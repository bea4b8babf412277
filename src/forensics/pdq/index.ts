// PDQ perceptual hash (Meta, facebook/ThreatExchange), exact to the C++ reference tool.
//
// Public API used by the reuse index, the CLI and detectors. A hash is 64 lowercase hex
// digits exactly as the reference prints it; quality is the reference's 0–100 gradient
// score (below 50 the hash is too unreliable to match on).

import sharp from 'sharp';
import { perImage } from '../per-image.ts';
import type { DecodedImage, RawPixels } from '../types.ts';
import { DIHEDRAL_NAMES, dctToBits, dihedralDct, pdqDctOf, rehashedDcts, storedFrameLuma, transformLuma, type LumaPlane } from './hash.ts';
import { bitsToHex } from './hex.ts';
import { embedsIccProfile } from './icc.ts';
import { pngForDecode } from '../intake.ts';

export { bytesToHex, hammingDistance, hexToBytes, isPdqHex } from './hex.ts';
export { DIHEDRAL_NAMES, DOWNSAMPLE_DIMS, MIN_HASHABLE_DIM } from './hash.ts';

export interface PdqResult {
  /** 64 lowercase hex chars, as the reference tool prints them. */
  hash: string;
  /** 0–100 */
  quality: number;
  /** 8 hex hashes in the reference order: original, rotate90, rotate180, rotate270, flipX, flipY, flipPlus1, flipMinus1 */
  dihedral?: string[];
}

export interface PdqOptions {
  /** Also compute the 8 dihedral variants (rotations and mirrors), from the same DCT. */
  dihedral?: boolean;
}

/** Hash of an image too small to hash (a side under 5 pixels), as the reference gives it. */
const ZERO_HASH = '0'.repeat(64);

/** Largest image (pixels) decoded a second time to read its stored, not colour-managed, values. */
const MAX_REDECODE_PIXELS = 50_000_000;

/**
 * Which dihedral variant of the stored image's DCT is the DCT of what a viewer sees, for
 * EXIF orientation 1–8 (index = orientation). Measured against the reference's own
 * variants (see test/forensics/pdq): e.g. orientation 6 (stored image turned 90° clockwise
 * for display) is the reference's rotate270.
 */
const ORIENTATION_VARIANT = [0, 0, 5, 2, 4, 6, 3, 7, 1] as const;

/**
 * PDQ of raw pixels as given (RGB, RGBA or grey; top-left first). Images larger than 512 on
 * a side are resampled to 512×512 first, as the reference tool does.
 */
export function pdqHashPixels(pixels: RawPixels, opts: PdqOptions = {}): PdqResult {
  return pdqHashOriented(pixels, 1, opts);
}

/**
 * PDQ of what a viewer sees. The reference ignores EXIF orientation; claimlens hashes the
 * image as displayed. To stay exact to the reference it hashes the pixels in the file's
 * stored frame and then takes the dihedral variant that the EXIF orientation stands for,
 * so a photo with orientation 6 gets exactly the reference's rotate-270 variant (hashing
 * the turned pixels directly would differ from it by up to ~50 bits on small images,
 * because PDQ's box filter and decimation grid are not symmetric).
 *
 * Colour: the reference and the other common ports (CImg/ImageMagick, Pillow, ImageIO)
 * read pixel values as stored and ignore an embedded ICC profile, while intake converts
 * to sRGB through it. For a file with an ICC profile the stored 8-bit values are decoded
 * again here (one extra decode, only for such files) so that the hash matches what other
 * platforms compute; anything unusual (CMYK, 16-bit, HEIF) uses intake's pixels.
 */
export async function pdqHashImage(image: DecodedImage, opts: PdqOptions = {}): Promise<PdqResult> {
  // The plain hash of an image is asked for by several parts of one analysis (the reuse
  // detector, the worker that stores it): computed once per decoded image.
  return Object.keys(opts).length === 0 ? plainHash(image) : hashImage(image, opts);
}

const plainHash = perImage((image) => hashImage(image, {}));

async function hashImage(image: DecodedImage, opts: PdqOptions): Promise<PdqResult> {
  const stored = await storedPixelsIgnoringIcc(image);
  if (stored) return pdqHashStoredFrame(stored, image.orientation, opts);
  return pdqHashOriented(await image.rgb(), image.orientation, opts);
}

/**
 * The file's stored 8-bit pixels without colour management, when the file carries an ICC
 * profile that intake applied; undefined when intake's pixels already are those values
 * or the file is of a kind where the question does not arise (HEIF, CMYK, 16-bit). One
 * extra decode per image at most, however many hashes are taken of it (the exchange hash,
 * the 8 re-hashed orientations).
 */
const storedPixelsIgnoringIcc = perImage(decodeStoredPixels);

async function decodeStoredPixels(image: DecodedImage): Promise<RawPixels | undefined> {
  if (image.format === 'heif') return undefined;
  // A second full decode of a huge image would double the memory held; beyond this size the
  // colour-managed pixels are hashed (a few bits from the reference at most in our tests).
  if (image.width * image.height > MAX_REDECODE_PIXELS) return undefined;
  if (embedsIccProfile(image.bytes, image.format) === false) return undefined;
  // PNG text chunks stripped first, as intake does: libvips inflates every zTXt/iTXt, and
  // a file with dozens of zTXt bombs cost 19 s and 4 GB here (found by the fuzz test).
  const input = image.format === 'png' ? pngForDecode(image.bytes) : image.bytes;
  try {
    const meta = await sharp(input, { limitInputPixels: false, failOn: 'none' }).metadata();
    if (!meta.icc || meta.depth !== 'uchar' || (meta.space !== 'srgb' && meta.space !== 'b-w')) return undefined;
    const { data, info } = await sharp(input, { ignoreIcc: true, limitInputPixels: false, failOn: 'none', sequentialRead: true })
      .timeout({ seconds: 30 })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 1 && info.channels !== 3) return undefined;
    const w = image.orientation >= 5 ? image.height : image.width;
    const h = image.orientation >= 5 ? image.width : image.height;
    if (info.width !== w || info.height !== h) return undefined;
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: info.channels };
  } catch {
    return undefined;
  }
}

/**
 * `pixels` are oriented for display and `orientation` is the EXIF orientation that was
 * applied to the stored pixels to get them.
 */
export function pdqHashOriented(pixels: RawPixels, orientation: number, opts: PdqOptions = {}): PdqResult {
  checkPixels(pixels);
  const o = validOrientation(orientation);
  return hashLuma(storedFrameLuma(pixels, o), o, opts);
}

/** `pixels` are in the file's stored frame; the result is for the image as displayed with `orientation`. */
export function pdqHashStoredFrame(pixels: RawPixels, orientation: number, opts: PdqOptions = {}): PdqResult {
  checkPixels(pixels);
  return hashLuma(storedFrameLuma(pixels, 1), validOrientation(orientation), opts);
}

function validOrientation(o: number): number {
  return Number.isInteger(o) && o >= 1 && o <= 8 ? o : 1;
}

function hashLuma(luma: LumaPlane, orientation: number, opts: PdqOptions): PdqResult {
  const plain = pdqDctOf(luma, true);
  if (!plain.dct) {
    return opts.dihedral ? { hash: ZERO_HASH, quality: 0, dihedral: DIHEDRAL_NAMES.map(() => ZERO_HASH) } : { hash: ZERO_HASH, quality: 0 };
  }
  const toViewer = ORIENTATION_VARIANT[orientation]!;
  const hash = bitsToHex(dctToBits(dihedralDct(plain.dct, toViewer)));
  if (!opts.dihedral) return { hash, quality: plain.quality };
  // The reference's dihedral path always blurs, even a 64×64 input (its plain path does not).
  const base = luma.rows === 64 && luma.cols === 64 ? pdqDctOf(luma, false).dct! : plain.dct;
  const viewer = dihedralDct(base, toViewer);
  const dihedral = DIHEDRAL_NAMES.map((_, v) => bitsToHex(dctToBits(dihedralDct(viewer, v))));
  return { hash, quality: plain.quality, dihedral };
}

/**
 * For matching, not for exchange: the hashes of what a viewer sees turned to each of the 8
 * dihedral orientations by moving the (≤ 512×512) luma plane and hashing each anew, in the
 * reference's variant order. The reference's `dihedral` variants (DCT sign flips) are exact
 * to other platforms' hashes, but PDQ's box filter and decimation grid are not symmetric, so
 * for a photo that was really rotated or mirrored they can be 30–50 bits off on small images
 * (e.g. 198 px listing photos); these re-hashed variants follow the pixels. 4× the blur work
 * of one hash (transposed geometries reuse a blur) and 8 DCTs, no second decode. Quality is
 * that of the unmoved image.
 */
export async function pdqRehashedVariants(image: DecodedImage): Promise<PdqResult> {
  const stored = await storedPixelsIgnoringIcc(image);
  const pixels = stored ?? (await image.rgb());
  checkPixels(pixels);
  const o = validOrientation(image.orientation);
  // The plane as a viewer sees it: the stored-frame plane moved by the orientation's transform.
  const storedPlane = storedFrameLuma(pixels, stored ? 1 : o);
  const viewerPlane = transformLuma(storedPlane, ORIENTATION_VARIANT[o]!);
  const r = rehashedDcts(viewerPlane);
  if (!r) return { hash: ZERO_HASH, quality: 0, dihedral: DIHEDRAL_NAMES.map(() => ZERO_HASH) };
  const hashes = r.dcts.map((d) => bitsToHex(dctToBits(d)));
  const quality = r.quality;
  return { hash: hashes[0]!, quality, dihedral: hashes };
}

function checkPixels(p: RawPixels): void {
  if (!(Number.isInteger(p.width) && Number.isInteger(p.height) && p.width >= 0 && p.height >= 0)) {
    throw new RangeError(`invalid image size ${p.width}×${p.height}`);
  }
  if (p.channels !== 1 && p.channels !== 3 && p.channels !== 4) throw new RangeError(`unsupported channel count ${p.channels}`);
  if (p.data.length < p.width * p.height * p.channels) {
    throw new RangeError(`pixel buffer holds ${p.data.length} bytes, ${p.width}×${p.height}×${p.channels} needs ${p.width * p.height * p.channels}`);
  }
}
