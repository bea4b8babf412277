// Core data types of the forensic engine. Everything here is plain data so that the
// engine stays a pure function of bytes (plus optional context) to signals.

/** Text shown to people, always in both product languages. */
export interface LocalizedText {
  en: string;
  zh: string;
}

/** What a signal claims about the image. `info` signals are facts for the reviewer. */
export type SignalVerdict = 'tampered' | 'ai_generated' | 'suspicious' | 'info';

/** Overall verdict for one image, derived from its signals. */
export type ImageVerdict = 'clean' | 'suspicious' | 'tampered' | 'ai_generated';

/** A box in pixels of the analysed image as a viewer sees it (after EXIF orientation). */
export interface Region {
  x: number;
  y: number;
  width: number;
  height: number;
  /** 0–1 strength of the finding inside this box, when the detector has one. */
  score?: number;
  label?: string;
}

/**
 * A heatmap laid over the whole image: a greyscale PNG (brighter = stronger evidence)
 * whose width/height are the heatmap's own; a viewer stretches it over the image.
 */
export interface Heatmap {
  width: number;
  height: number;
  mime: 'image/png';
  /** base64 PNG bytes */
  data: string;
}

export interface Evidence {
  /** Short machine-readable tags, e.g. `xmp:TC260:AIGC`, `exif:Software`. */
  tags?: string[];
  regions?: Region[];
  heatmap?: Heatmap;
  /** Anything else a detector wants to report (values read from the file, distances…). */
  [key: string]: unknown;
}

export interface Signal {
  /** Stable dotted id, e.g. `aigc.label`; integrations rely on these. */
  id: string;
  verdict: SignalVerdict;
  /** How strongly the evidence points at the verdict, 0–1. */
  score: number;
  /** How sure the detector is of its own reading, 0–1. */
  confidence: number;
  /** What was found. */
  summary: LocalizedText;
  /** Why it matters for the claim (optional extension of the v1 schema). */
  why?: LocalizedText;
  evidence: Evidence;
}

export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'heif' | 'avif' | 'gif' | 'tiff';

/** The media type of each image format, as stored and served (never the one a client declared). */
export const IMAGE_CONTENT_TYPES: Record<ImageFormat, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  heif: 'image/heif',
  avif: 'image/avif',
  gif: 'image/gif',
  tiff: 'image/tiff',
};

/** Raw interleaved 8-bit pixels, oriented as a viewer sees them. */
export interface RawPixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

/**
 * An image accepted by intake. Pixel and metadata accessors are lazy and cached, so
 * detectors that need only metadata never pay for a decode.
 */
export interface DecodedImage {
  /** The original file bytes, untouched. */
  readonly bytes: Uint8Array;
  readonly sha256: string;
  readonly format: ImageFormat;
  /** Size as a viewer sees it (EXIF orientation applied). */
  readonly width: number;
  readonly height: number;
  /** EXIF orientation 1–8 of the stored pixels (1 when absent). */
  readonly orientation: number;
  /** Full-resolution RGB pixels, oriented. */
  rgb(): Promise<RawPixels>;
  /** Oriented greyscale (luma) pixels at full resolution. */
  gray(): Promise<RawPixels>;
  /** Metadata parsed by exifr (EXIF, XMP, IPTC, ICC, PNG text…); never throws. */
  metadata(): Promise<ParsedMetadata>;
}

/** Metadata as read from the file. Keys are exifr's merged output plus raw blocks. */
export interface ParsedMetadata {
  /** exifr's merged, translated tags ({} when none or unreadable). */
  tags: Record<string, unknown>;
  /** Raw XMP packet(s) as text, when present. */
  xmp?: string;
  /** PNG tEXt/iTXt/zTXt chunks, keyword → text. */
  pngText?: Record<string, string>;
  /** Errors met while parsing metadata (malformed blocks); the image is still analysed. */
  errors: string[];
}

/** A piece of reference media registered by the merchant (listing photo, packing photo, video keyframe). */
export interface ReferenceMedia {
  id: string;
  kind: 'listing' | 'packing' | 'video_keyframe' | 'other';
  image: DecodedImage;
}

/** A previously seen photo hash that matched; supplied by the reuse index. */
export interface ReuseMatch {
  /** What the stored hash belongs to. */
  owner: { type: 'claim' | 'reference' | 'fraud_list'; id: string; buyerId?: string; tenantId?: string; sku?: string };
  distance: number;
  /** Which dihedral variant of the query matched (0 = as is). */
  variant: number;
  hash: string;
  /** Id of the stored entry (reuse store), when known. */
  entryId?: number;
  /** When the stored hash was recorded (ISO 8601), when known. */
  createdAt?: string;
  /** The part of the query photo that matched, when not the whole photo (the photo inside a screenshot). */
  region?: { x: number; y: number; width: number; height: number };
  /**
   * How many stored hashes of this owner type matched in all, when the lookup returned only the
   * closest of each type (ReuseStore keeps 20 of each: a photo seen in thousands of earlier
   * claims must not cost a lookup thousands of rows).
   */
  ofType?: number;
}

export interface ReuseLookupOptions {
  /** Leave out the stored hashes of this claim (its own photos from an earlier round). */
  excludeClaimId?: string;
  /** Leave out these references (the claim's own, compared by the reference-consistency detector). */
  excludeReferenceIds?: string[];
}

/** A lookup into the photo-reuse index; the service supplies one backed by storage. */
export interface ReuseLookup {
  lookup(hashes: string[], maxDistance: number, opts?: ReuseLookupOptions): Promise<ReuseMatch[]> | ReuseMatch[];
  /** Distance up to which a stored hash counts as the same photo (default 31). */
  maxDistance?: number;
  /** PDQ quality below which a photo is too flat to match on (default 50). */
  minQuality?: number;
}

/** Facts about the claim that some detectors take into account. All optional. */
export interface AnalysisContext {
  /** When the order was delivered (capture time before it is odd). */
  deliveredAt?: Date;
  /** When the photo was uploaded; defaults to now. */
  uploadedAt?: Date;
  /** The merchant's reference media candidates for this claim. */
  references?: ReferenceMedia[];
  /** Photo-reuse index (claims seen before, fraud lists). */
  reuse?: ReuseLookup;
  /** Id of the claim being analysed, so its own photos do not match themselves. */
  claimId?: string;
  /** Buyer of the claim, so a reused photo can be told apart as the same or another buyer's. */
  buyerId?: string;
}

/**
 * A detector: one module, one concern. `run` must not throw for odd input; a detector
 * that cannot say anything returns []. Registered in `src/forensics/registry.ts`.
 */
export interface Detector {
  readonly id: string;
  readonly version: string;
  run(image: DecodedImage, ctx: AnalysisContext): Promise<Signal[]> | Signal[];
}

export interface ImageReport {
  file: string;
  sha256?: string;
  width?: number;
  height?: number;
  format?: ImageFormat;
  risk?: number;
  verdict?: ImageVerdict;
  signals: Signal[];
  error?: { code: string; message: string };
  /** Detector ids and versions that ran (extension of the v1 schema). */
  detectors?: { id: string; version: string; ms: number; error?: string }[];
}

export interface AnalysisReport {
  schemaVersion: '1.0';
  engine: { name: 'claimlens'; version: string };
  images: ImageReport[];
}
