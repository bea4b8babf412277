// The reference check's core: for one claim photo and the merchant's candidate references,
// shortlist, align, match photometrically, and classify each candidate as
//   derived       – the reference with localized edits,
//   copy          – the reference re-encoded/resized/cropped with no local change,
//   same_product  – an independent photo that shows the same printed design,
//   unrelated     – nothing in common.

import type { DecodedImage, ReferenceMedia } from '../types.ts';
import { alignReference, applyHomography, claimIndex, detectFeatures, refineHomography, type Alignment, type ClaimIndex, type Features, type MatchStats } from './align.ts';
import { LOW_CONTRAST_FAST, MIN_WORKING_SIDE, lowContrastFeatures, referenceCache, type PreparedReference } from './prepared.ts';
import { CHANGE_FLOOR, QUIET, changedShare, computeResidual, groupGap, findChanges, quietFloor, residualHeatmap, type ChangeAnalysis, type ChangeRegion, type ResidualResult } from './residual.ts';
import { recolouredOnly } from './colour-check.ts';
import { independentMotion, type IndependentMotion } from './motion.ts';
import { shortlist, type ShortlistEntry } from './shortlist.ts';
import { workingImage, type WorkingImage } from './working.ts';

/** Long side of the claim's working copy, px. */
export const CLAIM_WORKING_SIDE = 800;
/** At most this many candidates go through geometric alignment (best shortlist first). */
export const MAX_ALIGNED_CANDIDATES = 24;
/** Claim features of the second alignment pass (when no reference aligned with the usual 800). */
export const DENSE_CLAIM_FEATURES = 3000;

/** Thresholds of the decision, in one place (see docs/reference.md for how they were set). */
export const LIMITS = {
  minInliers: 14,
  /** mean residual (0–255, after blur and tone matching) of the unchanged object */
  maxFitResidual: 8,
  /** share of unchanged object pixels still off by more than the low threshold */
  maxDiffuseShare: 0.15,
  /** the edits may not cover more than this share of the object (else it is another photo) */
  maxChangedShare: 0.5,
  /**
   * at least this many separate places of strong misfit, none holding half of it, is an
   * independent exposure (objects moved between burst shots), not an edit
   */
  minScatteredPlaces: 8,
  maxLargestPlaceShare: 0.5,
  /**
   * this share of the item's textured blocks misfitting by a displacement of their own (not
   * the common motion field) is a second exposure of the scene — things moved, parallax —
   * not one geometric transformation of the reference's pixels (`motion.ts`)
   */
  minMovedShare: 0.36,
  /** the reference must cover this much of the claim frame… */
  minOverlapShareOfClaim: 0.12,
  /** …and this much of the reference must be visible in the claim */
  minReferenceVisible: 0.35,
};

export type Relation = 'derived' | 'copy' | 'same_product' | 'unrelated';

export interface ReferenceFinding {
  reference: ReferenceMedia;
  relation: Relation;
  shortlist: ShortlistEntry;
  alignment?: Alignment;
  residual?: ResidualResult;
  changes?: ChangeAnalysis;
  referenceVisible?: number;
  /** Regions in the claim's full-resolution oriented pixels. */
  regions: { x: number; y: number; width: number; height: number; score: number }[];
  claimScale: number;
  /** Set when the overall fit was good but the misfit is scattered over many places. */
  scatteredMisfit?: boolean;
  /** Local motion after alignment (computed when the overall fit is good). */
  motion?: IndependentMotion;
  /** Set when the overall fit was good but parts of the picture moved on their own (a second exposure). */
  movedOnItsOwn?: boolean;
  /** Candidate regions dropped because one local colour map of the reference explains them (`colour-check.ts`). */
  recolouredRegions?: number;
  /** Set when the regions come from a second alignment that left the found edits out (`realignWithoutEdits`). */
  realigned?: boolean;
  /** Set when the regions come from the fine pass for quiet claims (threshold below the usual floor). */
  quietPass?: boolean;
  /** How feature matching went (sample matches of the early-rejection gate). */
  matching?: MatchStats;
  /** Set when examining this reference failed. */
  error?: string;
}

export interface CompareResult {
  findings: ReferenceFinding[];
  claim: WorkingImage;
}

export async function compareWithReferences(image: DecodedImage, references: readonly ReferenceMedia[]): Promise<CompareResult> {
  const claim = await workingImage(image, CLAIM_WORKING_SIDE, MIN_WORKING_SIDE);
  const prepared: { reference: ReferenceMedia; prepared: PreparedReference }[] = [];
  const failed: ReferenceFinding[] = [];
  for (const reference of references) {
    try {
      prepared.push({ reference, prepared: await referenceCache().get(reference.image) });
    } catch (e) {
      failed.push(unreadable(reference, claim, e));
    }
  }
  const ranked = await shortlist(claim, prepared);
  const claimFeatures = await detectFeatures(claim.gray, claim.width, claim.height, false);
  const claimMirrored = await detectFeatures(claim.gray, claim.width, claim.height, true);
  const index = await claimIndex(claimFeatures, claimMirrored);
  const findings: ReferenceFinding[] = [];
  try {
    for (const [rank, entry] of ranked.entries()) {
      const finding: ReferenceFinding = { reference: entry.reference, relation: 'unrelated', shortlist: entry, regions: [], claimScale: claim.scale };
      findings.push(finding);
      if (rank >= MAX_ALIGNED_CANDIDATES) continue;
      try {
        await examine(finding, entry.prepared, claim, index);
      } catch (e) {
        // one odd reference (degenerate geometry, an OpenCV assertion) must not sink the check
        // against the others; it simply counts as unrelated, and the reason is kept
        finding.relation = 'unrelated';
        finding.regions = [];
        finding.error = e instanceof Error ? e.message : typeof e === 'number' ? `OpenCV exception ${e}` : String(e);
      }
    }
  } finally {
    index.delete();
  }
  // Second pass when nothing aligned: the claim's 800 strongest corners can all sit on
  // something the reference does not have (drawn dirt specks, a crack's jagged edge, a
  // screenshot's status bar), and a smooth object (a garlic bulb on white) has too few
  // corners above ORB's usual contrast threshold once shrunk or cropped. Denser, lower-contrast
  // features on both sides recover those alignments; the pass costs time only on claims that
  // match no reference (genuine photos), which still have to pass the same fit tests.
  const retry = findings.filter((f, rank) => rank < MAX_ALIGNED_CANDIDATES && !f.alignment && !f.error);
  if (retry.length && !findings.some((f) => f.alignment)) {
    const dense = await claimIndex(
      await detectFeatures(claim.gray, claim.width, claim.height, false, DENSE_CLAIM_FEATURES, LOW_CONTRAST_FAST),
      await detectFeatures(claim.gray, claim.width, claim.height, true, DENSE_CLAIM_FEATURES, LOW_CONTRAST_FAST),
    );
    try {
      for (const finding of retry) {
        const entry = ranked.find((e) => e.reference === finding.reference)!;
        try {
          await examine(finding, entry.prepared, claim, dense, await lowContrastFeatures(entry.prepared));
        } catch (e) {
          finding.relation = 'unrelated';
          finding.regions = [];
          finding.error = e instanceof Error ? e.message : typeof e === 'number' ? `OpenCV exception ${e}` : String(e);
        }
      }
    } finally {
      dense.delete();
    }
  }
  findings.push(...failed);
  return { findings, claim };
}

function unreadable(reference: ReferenceMedia, claim: WorkingImage, e: unknown): ReferenceFinding {
  return {
    reference,
    relation: 'unrelated',
    shortlist: { reference, colourSimilarity: 0, score: 0 },
    regions: [],
    claimScale: claim.scale,
    error: e instanceof Error ? e.message : typeof e === 'number' ? `OpenCV exception ${e}` : String(e),
  };
}

/** `denseFeatures`: the reference's features of the second pass (when this is that pass). */
async function examine(f: ReferenceFinding, prepared: PreparedReference, claim: WorkingImage, index: ClaimIndex, denseFeatures?: Features): Promise<void> {
  const ref = prepared.working;
  const stats: MatchStats = { rejectedEarly: false, dense: denseFeatures !== undefined };
  const alignment = await alignReference(denseFeatures ?? prepared.features, index.claim, index.mirrored, LIMITS.minInliers, { index, stats });
  f.matching = stats;
  if (!alignment) return;
  const refined = await refineHomography(alignment.homography, ref.gray, ref.width, ref.height, claim.gray, claim.width, claim.height);
  alignment.homography = refined.homography;
  f.alignment = alignment;
  const object = prepared.object;
  // coarsest real pixel of either image, in claim working pixels
  const h = alignment.homography;
  const det = Math.abs(h[0]! * h[4]! - h[1]! * h[3]!);
  const refNativePx = (ref.width / f.reference.image.width) * Math.sqrt(det);
  const claimNativePx = 1 / claim.scale;
  const refScale = Math.max(1, refNativePx, claimNativePx);
  const residual = await computeResidual(claim, ref, object, h, refScale);
  f.residual = residual;
  f.referenceVisible = Math.min(1, (residual.validArea * residual.scale ** 2) / Math.max(1, det * ref.width * ref.height * 0.97));
  let changes = await findChanges(residual);
  f.changes = changes;
  const fits =
    changes.fitResidual <= LIMITS.maxFitResidual &&
    changes.diffuseShare <= LIMITS.maxDiffuseShare &&
    residual.overlapShareOfClaim >= LIMITS.minOverlapShareOfClaim &&
    f.referenceVisible >= LIMITS.minReferenceVisible;
  if (!fits) {
    f.relation = 'same_product';
    return;
  }
  // A derived or copied picture is the reference's pixels under one geometric transformation;
  // a second exposure of the scene misfits by displacements that differ from place to place.
  f.motion = independentMotion(residual, changes.changedMask);
  if (f.motion.share >= LIMITS.minMovedShare) {
    f.relation = 'same_product';
    f.movedOnItsOwn = true;
    return;
  }
  if (changes.misfit.places >= LIMITS.minScatteredPlaces && changes.misfit.largestShare < LIMITS.maxLargestPlaceShare) {
    f.relation = 'same_product';
    f.scatteredMisfit = true;
    return;
  }
  if (changes.regions.length === 0) {
    // Nothing at the usual threshold. On a quiet claim (low copy noise) look again with a
    // threshold that follows the noise: a small chip or thin crack stands out there.
    const floor = quietFloor(residual);
    if (floor < CHANGE_FLOOR) {
      const fine = await fineChanges(residual, floor);
      if (fine.regions.length) {
        // the fit and the places of misfit stay those of the usual threshold (the tests above)
        changes = { ...fine, fitResidual: changes.fitResidual, diffuseShare: changes.diffuseShare, misfit: changes.misfit };
        f.changes = changes;
        f.quietPass = true;
      }
    }
  }
  if (changes.regions.length) {
    const kept = withoutRecoloured(changes, residual);
    if (kept.regions.length < changes.regions.length) {
      f.recolouredRegions = changes.regions.length - kept.regions.length;
      changes = kept;
      f.changes = changes;
    }
  }
  if (changes.regions.length === 0) {
    f.relation = 'copy';
    return;
  }
  if (changes.changedShareOfObject > LIMITS.maxChangedShare) {
    f.relation = 'same_product';
    return;
  }
  f.relation = 'derived';
  // Where the edit is known, align once more without it. The first fit used every pixel,
  // the edit's included: a large stain or a missing piece pulls ECC by a pixel or two, which
  // a small claim (a 215 px picture shrunk to 25 %) shows as bright arcs along every outline
  // that join the edit and widen its box. The relation stays the one decided above; only the
  // regions (and the residual behind the heatmap) come from the new fit, and only when it fits
  // the rest of the picture at least as well and still finds an edit.
  const again = await realignWithoutEdits(f, prepared, claim, residual, changes, refScale);
  if (again) {
    f.residual = again.residual;
    f.changes = changes = again.changes;
    f.alignment.homography = again.homography;
    f.realigned = true;
  }
  const res = f.residual;
  const merged = mergeNearby(changes.regions, groupGap(res));
  const maxStrength = Math.max(...merged.map((r) => r.strength));
  // residual px → claim working px → claim full-resolution px
  const s = claim.scale * res.scale;
  f.regions = merged.map((r) => ({
    x: Math.round(r.x * s),
    y: Math.round(r.y * s),
    width: Math.round(r.width * s),
    height: Math.round(r.height * s),
    score: Math.round((r.strength / Math.max(1, maxStrength)) * 1000) / 1000,
  }));
}

/**
 * The fine pass for quiet claims at `floor`. At this sensitivity the edge of the overlap (the
 * frame's or the reference's border, where cropping and resampling cut through the picture)
 * gives slivers: not edits, so regions touching it are dropped (the changed mask keeps them).
 */
async function fineChanges(residual: ResidualResult, floor: number): Promise<ChangeAnalysis> {
  const fine = await findChanges(residual, { floor, minArea: QUIET.minArea, minAreaShare: 0 });
  fine.regions = fine.regions.filter((r) => !touchesBorder(r, residual, QUIET.borderPx));
  return fine;
}

/**
 * A colour the global model got wrong is not an edit: over the region and its surroundings one
 * colour map of the reference explains it (a forger's colour change acts on colours, an edit on
 * a place). Returns the analysis without such regions.
 */
function withoutRecoloured(changes: ChangeAnalysis, residual: ResidualResult): ChangeAnalysis {
  const low = 0.6 * changes.threshold;
  const kept = changes.regions.filter((g) => !recolouredOnly(residual, g, changes.changedMask, low));
  return kept.length < changes.regions.length ? withRegions(changes, kept, residual) : changes;
}

/** Margin around a found edit left out of the second alignment, as a share of the residual frame's long side. */
const REALIGN_MARGIN = 0.03;
/**
 * ECC iterations of the second alignment. It starts from the first fit, a pixel or two from
 * its optimum, yet ECC never met its 1e-5 stopping rule and ran all 30 iterations (≈ 9 ms each
 * at 280 px in OpenCV's WASM build: 275 ms, +40 % on the reference bench). With 10 the eval's
 * resize25 and perspective claims came out the same (IoU 0.748 / 0.831 against 0.747 / 0.830,
 * the same hits), session 7.
 */
const REALIGN_ECC_ITERATIONS = 10;

/**
 * The second alignment of a derived claim: ECC again from the current fit, with the found
 * edits (boxes grown by REALIGN_MARGIN) left out, then the residual and the regions anew, by
 * the same pass that found them (usual or quiet) and the same colour check. Undefined when it
 * does not improve: ECC kept the old fit, the rest of the picture fits worse, or no edit is left.
 */
async function realignWithoutEdits(
  f: ReferenceFinding,
  prepared: PreparedReference,
  claim: WorkingImage,
  residual: ResidualResult,
  changes: ChangeAnalysis,
  refScale: number,
): Promise<{ homography: number[]; residual: ResidualResult; changes: ChangeAnalysis } | undefined> {
  const ref = prepared.working;
  const h0 = f.alignment!.homography;
  const exclude = new Uint8Array(claim.width * claim.height);
  const m = REALIGN_MARGIN * Math.max(residual.width, residual.height);
  for (const g of changes.regions) {
    const x0 = Math.max(0, Math.floor((g.x - m) * residual.scale)), x1 = Math.min(claim.width, Math.ceil((g.x + g.width + m) * residual.scale));
    const y0 = Math.max(0, Math.floor((g.y - m) * residual.scale)), y1 = Math.min(claim.height, Math.ceil((g.y + g.height + m) * residual.scale));
    for (let y = y0; y < y1; y++) exclude.fill(1, y * claim.width + x0, y * claim.width + x1);
  }
  const refined = await refineHomography(h0, ref.gray, ref.width, ref.height, claim.gray, claim.width, claim.height, exclude, REALIGN_ECC_ITERATIONS);
  if (refined.homography === h0) return undefined;
  const r2 = await computeResidual(claim, ref, prepared.object, refined.homography, refScale);
  let c2 = f.quietPass ? await fineChanges(r2, quietFloor(r2)) : await findChanges(r2);
  if (f.quietPass) c2 = withRegions(c2, c2.regions, r2); // the changed mask without the border slivers
  c2 = withoutRecoloured(c2, r2);
  if (!c2.regions.length || c2.fitResidual > changes.fitResidual || c2.changedShareOfObject > LIMITS.maxChangedShare) return undefined;
  return { homography: refined.homography, residual: r2, changes: c2 };
}

/** The analysis with only `kept` of its regions (the changed mask and the changed share follow). */
function withRegions(ch: ChangeAnalysis, kept: ChangeRegion[], res: ResidualResult): ChangeAnalysis {
  const W = res.width;
  const mask = new Uint8Array(ch.changedMask.length);
  for (const g of kept) {
    for (let y = g.y; y < g.y + g.height; y++) for (let x = g.x; x < g.x + g.width; x++) mask[y * W + x] = ch.changedMask[y * W + x]!;
  }
  let inObject = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i] && res.object[i]) inObject++;
  let changedArea = 0;
  for (let i = 0; i < mask.length; i++) changedArea += mask[i]!;
  return { ...ch, regions: kept, changedMask: mask, changedArea, changedShareOfObject: changedShare(inObject, res) };
}

/** Whether a region's box, grown by `px`, reaches outside the frame or the overlap. */
export function touchesBorder(r: ChangeRegion, res: Pick<ResidualResult, 'width' | 'height' | 'valid'>, px: number): boolean {
  const x0 = r.x - px, y0 = r.y - px, x1 = r.x + r.width - 1 + px, y1 = r.y + r.height - 1 + px;
  if (x0 < 0 || y0 < 0 || x1 >= res.width || y1 >= res.height) return true;
  for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) if (!res.valid[y * res.width + x]) return true;
  return false;
}

/**
 * Boxes closer than `gap` describe one edit (dirt specks, the pieces of a crack): merge
 * them so that a reviewer sees one box per edit.
 */
export function mergeNearby(regions: readonly ChangeRegion[], gap: number): ChangeRegion[] {
  const out = regions.map((r) => ({ ...r }));
  let changed = true;
  while (changed) {
    changed = false;
    for (let i = 0; i < out.length && !changed; i++) {
      for (let j = i + 1; j < out.length; j++) {
        const a = out[i]!, b = out[j]!;
        if (a.x - gap > b.x + b.width || b.x - gap > a.x + a.width || a.y - gap > b.y + b.height || b.y - gap > a.y + a.height) continue;
        const x = Math.min(a.x, b.x), y = Math.min(a.y, b.y);
        const area = a.area + b.area;
        out[i] = {
          x,
          y,
          width: Math.max(a.x + a.width, b.x + b.width) - x,
          height: Math.max(a.y + a.height, b.y + b.height) - y,
          area,
          strength: (a.strength * a.area + b.strength * b.area) / area,
        };
        out.splice(j, 1);
        changed = true;
        break;
      }
    }
  }
  return out.sort((a, b) => b.area * b.strength - a.area * a.strength);
}

export { residualHeatmap, applyHomography };
