// Per-reference derived data for the reference check — working copy, ORB keypoints and
// descriptors, PDQ hash, colour histogram, object mask — computed once per reference image
// and kept in a process-wide LRU bounded by bytes, keyed by the image's SHA-256. A claims
// service checks many claims against the same SKU's listing photos; without the cache every
// claim paid ≈ 30–60 ms of CPU per reference just to describe it again.
//
// Everything here is a pure function of the reference's bytes (and of the constants below,
// which are part of the key), so a cached entry can never be stale.

import { pdqHashPixels } from '../pdq/index.ts';
import type { DecodedImage, ReferenceMedia } from '../types.ts';
import { detectFeatures, type Features } from './align.ts';
import { objectMask } from './residual.ts';
import { colourHistogram, pdqInput } from './shortlist.ts';
import { workingImage, type WorkingImage } from './working.ts';

/** Long side of a reference's working copy, px. */
export const REF_WORKING_SIDE = 640;
/** Small images are upscaled to this long side so that ORB finds enough corners. */
export const MIN_WORKING_SIDE = 560;
/** Features per reference (the claim gets more, since it may hold the reference small). */
export const REF_FEATURES = 500;
/**
 * FAST threshold of the second alignment pass (the default is 12): smooth, low-contrast
 * objects (a garlic bulb on white, shrunk or cropped) have too few corners above 12.
 */
export const LOW_CONTRAST_FAST = 5;
/** Bump when anything derived here changes meaning; part of the cache key. */
const PREPARED_VERSION = 1;

export interface PreparedReference {
  sha256: string;
  working: WorkingImage;
  features: Features;
  /** PDQ hash of the working copy (undefined when PDQ could not hash it). */
  pdqHash?: string;
  histogram: Float64Array;
  /** The reference's object mask (plain backdrop → the item, else the whole frame). */
  object: Uint8Array;
  /** Approximate memory held by this entry, bytes. */
  bytes: number;
  /** Low-contrast features for the second alignment pass, computed on first use. */
  lowContrast?: Promise<Features>;
}

/**
 * The reference's features at the low FAST threshold, for the second alignment pass; computed
 * once per prepared reference (only claims that align with nothing need them).
 */
export function lowContrastFeatures(p: PreparedReference): Promise<Features> {
  p.lowContrast ??= detectFeatures(p.working.gray, p.working.width, p.working.height, false, REF_FEATURES, LOW_CONTRAST_FAST).then((f) => {
    // counted in the entry's size from now on (the cache's own total is not revisited)
    p.bytes += f.points.byteLength + f.descriptors.byteLength;
    return f;
  });
  return p.lowContrast;
}

/** Describes a reference image: everything the check needs from it, independent of any claim. */
export async function describeReference(image: DecodedImage): Promise<PreparedReference> {
  const working = await workingImage(image, REF_WORKING_SIDE, MIN_WORKING_SIDE);
  const features = await detectFeatures(working.gray, working.width, working.height, false, REF_FEATURES);
  let pdqHash: string | undefined;
  try {
    pdqHash = pdqHashPixels(await pdqInput(working)).hash;
  } catch {
    pdqHash = undefined; // PDQ unavailable for this image: ranked by colour only
  }
  const histogram = colourHistogram(working.rgb);
  const object = objectMask(working);
  const bytes =
    working.rgb.byteLength + working.gray.byteLength + features.points.byteLength + features.descriptors.byteLength + histogram.byteLength + object.byteLength + 512;
  return { sha256: image.sha256, working, features, pdqHash, histogram, object, bytes };
}

/**
 * Least-recently-used map bounded by the summed `bytes` of its entries. Pending
 * computations are shared (two claims against the same new reference describe it once)
 * and counted only once they finish.
 */
export class PreparedReferenceCache {
  private readonly done = new Map<string, PreparedReference>();
  private readonly pending = new Map<string, Promise<PreparedReference>>();
  private used = 0;
  hits = 0;
  misses = 0;

  constructor(public maxBytes: number) {}

  async get(image: DecodedImage): Promise<PreparedReference> {
    const sha = image.sha256;
    if (!sha) return describeReference(image); // no identity, nothing to key on
    const key = `${PREPARED_VERSION}:${sha}`;
    const hit = this.done.get(key);
    if (hit) {
      this.hits++;
      this.done.delete(key); // re-insert: Map order is the recency order
      this.done.set(key, hit);
      return hit;
    }
    const inFlight = this.pending.get(key);
    if (inFlight) {
      this.hits++;
      return inFlight;
    }
    this.misses++;
    const p = describeReference(image).then(
      (prepared) => {
        this.pending.delete(key);
        this.insert(key, prepared);
        return prepared;
      },
      (e: unknown) => {
        this.pending.delete(key);
        throw e;
      },
    );
    this.pending.set(key, p);
    return p;
  }

  private insert(key: string, prepared: PreparedReference): void {
    if (prepared.bytes > this.maxBytes) return; // larger than the whole budget: use once, keep nothing
    const old = this.done.get(key);
    if (old) {
      this.used -= old.bytes;
      this.done.delete(key);
    }
    this.done.set(key, prepared);
    this.used += prepared.bytes;
    for (const [k, v] of this.done) {
      if (this.used <= this.maxBytes) break;
      this.done.delete(k);
      this.used -= v.bytes;
    }
  }

  stats(): { entries: number; bytes: number; maxBytes: number; hits: number; misses: number } {
    return { entries: this.done.size, bytes: this.used, maxBytes: this.maxBytes, hits: this.hits, misses: this.misses };
  }

  clear(): void {
    this.done.clear();
    this.used = 0;
  }
}

/**
 * ≈ 1.5–2 MB per reference at 640 px: the default 128 MB keeps ≈ 70 references. Each
 * analysis worker thread has its own cache (CLAIMLENS_REFERENCE_CACHE_MB sets the size; 0
 * disables it).
 */
const DEFAULT_CACHE_MB = 128;

function configuredBytes(): number {
  const raw = process.env.CLAIMLENS_REFERENCE_CACHE_MB?.trim();
  const mb = raw ? Number(raw) : NaN;
  return (Number.isFinite(mb) && mb >= 0 ? mb : DEFAULT_CACHE_MB) * 1024 * 1024;
}

const shared = new PreparedReferenceCache(configuredBytes());

/** The process-wide cache (one per worker thread: each thread has its own module instance). */
export function referenceCache(): PreparedReferenceCache {
  return shared;
}

/**
 * Computes (or fetches) a reference's derived data and keeps it in the process-wide cache.
 * Call it when references are registered or loaded, so the first claim against them does
 * not pay for describing them; the check itself calls it too, so calling it is optional.
 */
export async function prepareReference(ref: ReferenceMedia | DecodedImage): Promise<PreparedReference> {
  return shared.get('image' in ref ? ref.image : ref);
}
