// Photo reuse: the claim photo's PDQ hash (all 8 rotations/mirrors) looked up in the reuse
// index of photos seen before. A "damage" photo that already appeared in an earlier claim,
// the merchant's own listing photo sent back, or a photo on a fraud list is strong evidence
// that the photo does not show this buyer's delivered item — but a human decides: the
// same buyer may legitimately resubmit a photo of the same parcel, and PDQ can match two
// genuinely different photos of a near-identical scene.

import { DIHEDRAL_NAMES } from '../pdq/index.ts';
import { regionOfQuery, reuseQueryHashes, variantOfQuery } from '../reuse/query-hashes.ts';
import { round, signal } from '../signal.ts';
import type { AnalysisContext, DecodedImage, Detector, LocalizedText, ReuseMatch, Signal } from '../types.ts';

export const DEFAULT_MAX_DISTANCE = 31;
export const DEFAULT_MIN_QUALITY = 50;
/** Matches listed in a signal's evidence (closest first). */
const MAX_LISTED = 10;

/**
 * What a match on query variant v means: the stored photo looks like this photo turned by
 * dihedral transform v (reference order and geometry, see pdq/hash.ts transformLuma; e.g.
 * rotate90 turns anticlockwise: a copy turned 90° clockwise matches on rotate90).
 */
const VARIANT_TEXT: Record<string, LocalizedText> = {
  original: { en: 'as is', zh: '原样' },
  rotate90: { en: 'this photo turned 90° anticlockwise', zh: '本图逆时针旋转 90° 后比对' },
  rotate180: { en: 'this photo turned 180°', zh: '本图旋转 180° 后比对' },
  rotate270: { en: 'this photo turned 90° clockwise', zh: '本图顺时针旋转 90° 后比对' },
  flipX: { en: 'this photo mirrored top to bottom', zh: '本图上下镜像后比对' },
  flipY: { en: 'this photo mirrored left to right', zh: '本图左右镜像后比对' },
  flipPlus1: { en: 'this photo mirrored across its main diagonal', zh: '本图沿主对角线镜像后比对' },
  flipMinus1: { en: 'this photo mirrored across its anti-diagonal', zh: '本图沿副对角线镜像后比对' },
};

function variantText(v: number): LocalizedText {
  const name = DIHEDRAL_NAMES[v] ?? `variant ${v}`;
  return VARIANT_TEXT[name] ?? { en: name, zh: name };
}

/** How the match was made: the variant, and for a screenshot the photo region inside it. */
function matchText(m: ReuseMatch): LocalizedText {
  const v = variantText(m.variant);
  if (!m.region) return v;
  return {
    en: `the photo inside this screenshot (${m.region.width}×${m.region.height} px at ${m.region.x},${m.region.y}), ${v.en}`,
    zh: `截图中的照片区域（${m.region.width}×${m.region.height} 像素，位于 ${m.region.x},${m.region.y}），${v.zh}`,
  };
}

/** The matched region as a box of the signal, when the match was on part of the photo. */
function regionBoxes(m: ReuseMatch) {
  return m.region ? { regions: [{ ...m.region, label: 'photo inside the screenshot / 截图中的照片' }] } : {};
}

type BuyerRelation = 'same_buyer' | 'other_buyer' | 'unknown';

function relation(ctx: AnalysisContext, m: ReuseMatch): BuyerRelation {
  if (!ctx.buyerId || !m.owner.buyerId) return 'unknown';
  return ctx.buyerId === m.owner.buyerId ? 'same_buyer' : 'other_buyer';
}

function listed(ctx: AnalysisContext, ms: ReuseMatch[]) {
  return ms.slice(0, MAX_LISTED).map((m) => ({
    ownerType: m.owner.type,
    ownerId: m.owner.id,
    ...(m.owner.type === 'claim' ? { buyer: relation(ctx, m) } : {}),
    ...(m.owner.sku ? { sku: m.owner.sku } : {}),
    distance: m.distance,
    variant: m.variant,
    variantName: DIHEDRAL_NAMES[m.variant] ?? String(m.variant),
    hash: m.hash,
    ...(m.entryId !== undefined ? { entryId: m.entryId } : {}),
    ...(m.createdAt ? { seenAt: m.createdAt } : {}),
    ...(m.region ? { region: m.region } : {}),
  }));
}

/** How close a match is: PDQ distances ≤ 16 are near-certain copies, up to 31 likely ones. */
function closeness(distance: number): number {
  return distance <= 16 ? 1 : 0.85;
}

export function reuseSignals(ctx: AnalysisContext, hash: string, quality: number, all: ReuseMatch[]): Signal[] {
  const ownReferences = new Set((ctx.references ?? []).map((r) => r.id));
  const byDistance = [...all].sort((a, b) => a.distance - b.distance || a.variant - b.variant);
  const claims = byDistance.filter((m) => m.owner.type === 'claim' && m.owner.id !== ctx.claimId);
  // References passed in ctx.references are compared by the reference-consistency detector.
  const references = byDistance.filter((m) => m.owner.type === 'reference' && !ownReferences.has(m.owner.id));
  const fraud = byDistance.filter((m) => m.owner.type === 'fraud_list');
  const base = { tags: ['pdq'], hash, quality };
  const out: Signal[] = [];

  if (fraud.length) {
    const m = fraud[0]!;
    const v = matchText(m);
    out.push(
      signal(
        'reuse.fraud_list',
        'suspicious',
        0.95 * closeness(m.distance),
        m.distance <= 16 ? 0.95 : 0.8,
        {
          en: `The photo matches a confirmed fraud photo (list entry ${m.owner.id}, PDQ distance ${m.distance} of 256 bits, ${v.en}).`,
          zh: `该照片与已确认的欺诈照片相符（名单条目 ${m.owner.id}，PDQ 距离 ${m.distance}/256 位，${v.zh}）。`,
        },
        { ...base, ...regionBoxes(m), matches: listed(ctx, fraud) },
        {
          en: 'Photos on a fraud list were used in claims found to be fraudulent; the same picture in a new claim does not show this buyer’s item.',
          zh: '欺诈名单中的照片曾在已认定的欺诈申请中使用；同一张图片出现在新的申请中，说明它拍的并不是本次买家收到的商品。',
        },
      ),
    );
  }

  if (claims.length) {
    const m = claims[0]!;
    const rel = relation(ctx, m);
    const v = matchText(m);
    const who: LocalizedText =
      rel === 'same_buyer'
        ? { en: 'by the same buyer', zh: '同一买家' }
        : rel === 'other_buyer'
          ? { en: 'by another buyer', zh: '另一位买家' }
          : { en: '', zh: '' };
    // A lookup that kept only the closest matches says how many there were (ReuseMatch.ofType).
    const seen = Math.max(claims.length, m.ofType ?? 0);
    const more = seen > 1 ? { en: ` (and ${seen - 1} more)`, zh: `（另有 ${seen - 1} 起）` } : { en: '', zh: '' };
    const score = (rel === 'other_buyer' ? 0.85 : rel === 'same_buyer' ? 0.65 : 0.75) * closeness(m.distance);
    out.push(
      signal(
        'reuse.seen_before',
        'suspicious',
        score,
        m.distance <= 16 ? 0.9 : 0.75,
        {
          en: `The photo was already used in an earlier claim ${m.owner.id}${who.en ? ` ${who.en}` : ''}${more.en} (PDQ distance ${m.distance} of 256 bits, ${v.en}).`,
          zh: `该照片已在此前的申请 ${m.owner.id} 中使用过${who.zh ? `（${who.zh}）` : ''}${more.zh}（PDQ 距离 ${m.distance}/256 位，${v.zh}）。`,
        },
        { ...base, ...regionBoxes(m), matches: listed(ctx, claims), buyer: rel },
        rel === 'same_buyer'
          ? {
              en: 'The same buyer sending the same picture for another claim may be a repeated claim for one damage; check whether the orders differ.',
              zh: '同一买家在另一起申请中提交同一张照片，可能是就同一处损坏重复申请；请核对两笔订单是否不同。',
            }
          : {
              en: 'A photo of real damage is taken for one order; the same picture in two claims means at most one of them shows the delivered item.',
              zh: '真实的损坏照片只对应一笔订单；同一张图片出现在两起申请中，说明最多只有一起拍的是实际收到的商品。',
            },
      ),
    );
  }

  if (references.length) {
    const m = references[0]!;
    const v = matchText(m);
    out.push(
      signal(
        'reuse.reference_copy',
        'suspicious',
        0.8 * closeness(m.distance),
        m.distance <= 16 ? 0.9 : 0.75,
        {
          en: `The photo matches the merchant's own reference media ${m.owner.id}${m.owner.sku ? ` (SKU ${m.owner.sku})` : ''} (PDQ distance ${m.distance} of 256 bits, ${v.en}).`,
          zh: `该照片与商家自己的参考图 ${m.owner.id}${m.owner.sku ? `（SKU ${m.owner.sku}）` : ''}相符（PDQ 距离 ${m.distance}/256 位，${v.zh}）。`,
        },
        { ...base, ...regionBoxes(m), matches: listed(ctx, references) },
        {
          en: 'A buyer’s photo of the delivered item is not the listing photo; sending the listing photo back (often with damage painted in) is a common way to fake a claim.',
          zh: '买家拍摄的实物照片不会是商品主图；把商家主图发回来（常常再加上伪造的损坏）是伪造申请的常见做法。',
        },
      ),
    );
  }
  return out;
}

export const reuseDetector: Detector = {
  id: 'reuse',
  version: '1.2.0',
  async run(image: DecodedImage, ctx: AnalysisContext): Promise<Signal[]> {
    const reuse = ctx.reuse;
    if (!reuse) return [];
    // The 8 orientations re-hashed from the pixels (see reuse/query-hashes.ts): a rotated or
    // mirrored copy of a small photo is 28–50 bits off with the reference's DCT variants.
    const pdq = await reuseQueryHashes(image, 'rehashed');
    const minQuality = reuse.minQuality ?? DEFAULT_MIN_QUALITY;
    if (pdq.quality < minQuality) {
      return [
        signal(
          'reuse.too_flat',
          'info',
          0,
          1,
          {
            en: `The photo is too flat to hash (PDQ quality ${pdq.quality} < ${minQuality}); it was not checked for reuse.`,
            zh: `该照片过于平淡，无法可靠计算哈希（PDQ 质量 ${pdq.quality} < ${minQuality}），未做重复使用检查。`,
          },
          { tags: ['pdq'], hash: pdq.hash, quality: pdq.quality },
          {
            en: 'Nearly uniform pictures all hash alike, so a match would mean nothing.',
            zh: '近乎纯色的图片哈希几乎相同，匹配结果没有意义。',
          },
        ),
      ];
    }
    // The claim's own photos from an earlier round are not a reuse, and its own references are
    // the reference-consistency detector's (reuseSignals leaves both out too, for lookups that
    // do not take these options).
    const found = await reuse.lookup(pdq.queries, reuse.maxDistance ?? DEFAULT_MAX_DISTANCE, {
      ...(ctx.claimId ? { excludeClaimId: ctx.claimId } : {}),
      ...(ctx.references?.length ? { excludeReferenceIds: ctx.references.map((r) => r.id) } : {}),
    });
    const matches = found.map((m) => {
      const region = regionOfQuery(pdq, m.variant);
      return { ...m, variant: variantOfQuery(pdq, m.variant), ...(region ? { region: { x: region.x, y: region.y, width: region.width, height: region.height } } : {}) };
    });
    return reuseSignals(ctx, pdq.hash, round(pdq.quality, 0), matches);
  },
};
