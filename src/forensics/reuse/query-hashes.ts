// Which PDQ hashes a photo is looked up with in the reuse index.
//
// The reference's 8 dihedral variants come from one DCT by sign flips. They are what other
// platforms compute, but PDQ's box filter (even windows) and decimation grid are not
// symmetric, so for a photo that was really rotated or mirrored they can be 28–50 bits off
// on small images (the 198 px listing photos of ../shared/photos: a turned copy was found
// only 90.6–98.5 % of the time at distance 31). Re-hashing the 8 orientations of the pixels
// (`pdqRehashedVariants`) follows the pixels: every turned/mirrored copy in the robustness
// set was within 10 bits. So the matcher queries the re-hashed orientations by default.
//
// Variant meaning (the same for both kinds, in the reference's order): query variant v is
// the photo turned by dihedral transform v (original, rotate90, rotate180, rotate270, flipX,
// flipY, flipPlus1, flipMinus1). A match on variant v means: the stored photo looks like
// this photo turned by transform v.
//
// EXIF orientation: the hashes claimlens stores (and other platforms exchange) are the
// reference's hash of the stored frame, taken to the viewer's orientation by a DCT variant;
// the re-hashed variant 0 is the hash of the viewer's pixels and may differ from it by a few
// bits. For a photo with an EXIF orientation the exchange hash is therefore queried too
// (as a 9th query that reports as variant 0), so the same file always matches itself at 0.

import { pdqHashImage, pdqHashPixels, pdqRehashedVariants } from '../pdq/index.ts';
import { perImage } from '../per-image.ts';
import type { DecodedImage } from '../types.ts';
import { cropPixels, findScreenshotRegions, type PhotoRegion } from './screenshot-region.ts';

export type VariantMode = 'rehashed' | 'dct';

export interface ReuseQuery {
  /** The photo's exchange hash (what `claimlens hash` prints and the service stores). */
  hash: string;
  quality: number;
  /** Hashes to look up; query index i stands for dihedral variant `variantOf[i]`. */
  queries: string[];
  variantOf: number[];
  /**
   * For a phone screenshot: the candidate regions of the photo inside it (screenshot-region.ts),
   * each hashed and queried with its 8 DCT variants; `regionOf[i]` is the index into `regions`
   * of query i, −1 for the photo as a whole.
   */
  regions: PhotoRegion[];
  regionOf: number[];
}

export async function reuseQueryHashes(image: DecodedImage, mode: VariantMode = 'rehashed'): Promise<ReuseQuery> {
  if (mode === 'dct') {
    const pdq = await pdqHashImage(image, { dihedral: true });
    const queries = pdq.dihedral ?? [pdq.hash];
    return withRegions(image, { hash: pdq.hash, quality: pdq.quality, queries, variantOf: queries.map((_, i) => i), regions: [], regionOf: queries.map(() => -1) });
  }
  const re = await pdqRehashedVariants(image);
  const queries = [...(re.dihedral ?? [re.hash])];
  const variantOf = queries.map((_, i) => i);
  let hash = re.hash;
  let quality = re.quality;
  const oriented = image.orientation !== 1 || isExactly64(image);
  if (oriented) {
    // The exchange hash differs from the re-hashed original only through the stored frame
    // (EXIF orientation) or the reference's unblurred 64×64 path; query it too.
    const exchange = await pdqHashImage(image);
    hash = exchange.hash;
    quality = exchange.quality;
    if (!queries.includes(exchange.hash)) {
      queries.push(exchange.hash);
      variantOf.push(0);
    }
  }
  return withRegions(image, { hash, quality, queries, variantOf, regions: [], regionOf: queries.map(() => -1) });
}

/**
 * Adds the hashes of the photo inside a phone screenshot: for PDQ a photo framed by a status
 * bar, app bar and price lines is a different image (116 bits from its source, p50). Only
 * portrait screenshots are searched; a region too flat to hash is left out.
 */
async function withRegions(image: DecodedImage, q: ReuseQuery): Promise<ReuseQuery> {
  for (const { region, hashes } of await screenshotRegionQueries(image)) {
    const ri = q.regions.push(region) - 1;
    hashes.forEach((h, v) => {
      q.queries.push(h);
      q.variantOf.push(v);
      q.regionOf.push(ri);
    });
  }
  return q;
}

/**
 * The photo regions of a phone screenshot with their 8 DCT-variant hashes ([] for other images).
 * Once per decoded image: the reuse detector and the worker that stores the region hashes both ask.
 */
export const screenshotRegionQueries = perImage(findRegionQueries);

async function findRegionQueries(image: DecodedImage): Promise<{ region: PhotoRegion; hashes: string[] }[]> {
  if (image.height < 1.6 * image.width) return [];
  const regions = findScreenshotRegions(await image.gray());
  if (regions.length === 0) return [];
  const rgb = await image.rgb();
  const out: { region: PhotoRegion; hashes: string[] }[] = [];
  for (const region of regions) {
    const r = pdqHashPixels(cropPixels(rgb, region), { dihedral: true });
    if (r.quality >= REGION_MIN_QUALITY) out.push({ region, hashes: r.dihedral ?? [r.hash] });
  }
  return out;
}

/** Regions below this PDQ quality are not queried (as the service's default minimum). */
const REGION_MIN_QUALITY = 50;

function isExactly64(image: DecodedImage): boolean {
  return image.width === 64 && image.height === 64;
}

/** Maps a lookup's query index back to the dihedral variant it stands for. */
export function variantOfQuery(q: ReuseQuery, queryIndex: number): number {
  return q.variantOf[queryIndex] ?? queryIndex;
}

/** The screenshot region a lookup's query index stands for, if any. */
export function regionOfQuery(q: ReuseQuery, queryIndex: number): PhotoRegion | undefined {
  const r = q.regionOf[queryIndex] ?? -1;
  return r >= 0 ? q.regions[r] : undefined;
}
