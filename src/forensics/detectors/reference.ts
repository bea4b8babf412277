// Reference consistency: is the claim photo the merchant's own reference photo (listing
// photo, packing photo, packing-video keyframe) with damage added? See docs/reference.md.
//
//   reference.derived      (tampered)   the reference, aligned and colour-matched, equals the
//                                       claim except in localized regions (the edits)
//   reuse.reference_copy   (suspicious) the reference re-encoded/resized/cropped, no local change
//   reference.same_product (info)       an independent photo showing the same printed design
//   (nothing)                           unrelated

import { compareWithReferences, type ReferenceFinding } from '../reference/compare.ts';
import { residualHeatmap } from '../reference/residual.ts';
import { round, signal } from '../signal.ts';
import type { AnalysisContext, DecodedImage, Detector, Signal } from '../types.ts';

export const referenceDetector: Detector = {
  id: 'reference',
  version: '1.0.0',
  async run(image: DecodedImage, ctx: AnalysisContext): Promise<Signal[]> {
    const refs = ctx.references ?? [];
    if (refs.length === 0) return [];
    const { findings } = await compareWithReferences(image, refs);
    const derived = findings.filter((f) => f.relation === 'derived').sort(byFit);
    if (derived.length) return [await derivedSignal(derived[0]!, derived.slice(1))];
    const copies = findings.filter((f) => f.relation === 'copy').sort(byFit);
    if (copies.length) return [copySignal(copies[0]!, copies.slice(1))];
    const same = findings.filter((f) => f.relation === 'same_product').sort((a, b) => (b.alignment?.inliers ?? 0) - (a.alignment?.inliers ?? 0));
    if (same.length) return [sameProductSignal(same)];
    return [];
  },
};

function byFit(a: ReferenceFinding, b: ReferenceFinding): number {
  return (a.changes?.fitResidual ?? 255) - (b.changes?.fitResidual ?? 255);
}

function refEvidence(f: ReferenceFinding) {
  const h = f.alignment?.homography ?? [];
  const det = Math.abs((h[0] ?? 0) * (h[4] ?? 0) - (h[1] ?? 0) * (h[3] ?? 0));
  return {
    id: f.reference.id,
    kind: f.reference.kind,
    sha256: f.reference.image.sha256,
    mirrored: f.alignment?.mirrored ?? false,
    rotationDegrees: h.length ? round((Math.atan2(h[3]!, h[0]!) * 180) / Math.PI, 1) : undefined,
    scale: h.length ? round(Math.sqrt(det), 3) : undefined,
    inliers: f.alignment?.inliers,
    visibleShare: f.referenceVisible !== undefined ? round(f.referenceVisible, 3) : undefined,
    fitResidual: f.changes ? round(f.changes.fitResidual, 2) : undefined,
    misfitPlaces: f.changes?.misfit.places,
    misfitLargestShare: f.changes ? round(f.changes.misfit.largestShare, 3) : undefined,
    movedShare: f.motion ? round(f.motion.share, 3) : undefined,
    recolouredRegions: f.recolouredRegions ?? 0,
    realigned: f.realigned ?? false,
  };
}

function quote(id: string): { en: string; zh: string } {
  return { en: `“${id}”`, zh: `“${id}”` };
}

async function derivedSignal(f: ReferenceFinding, others: ReferenceFinding[]): Promise<Signal> {
  const ch = f.changes!;
  const share = ch.changedShareOfObject;
  const pct = share < 0.001 ? '<0.1' : (share * 100).toFixed(share < 0.1 ? 1 : 0);
  const n = f.regions.length;
  const q = quote(f.reference.id);
  const maxStrength = Math.max(...ch.regions.map((r) => r.strength));
  const fitQuality = Math.max(0, 1 - ch.fitResidual / 8);
  const inlierQuality = Math.min(1, (f.alignment?.inliers ?? 0) / 80);
  const transformEn = f.alignment?.mirrored ? ' (mirrored)' : '';
  const transformZh = f.alignment?.mirrored ? '（镜像翻转后）' : '';
  return signal(
    'reference.derived',
    'tampered',
    0.75 + 0.25 * Math.min(1, maxStrength / 80),
    0.55 + 0.25 * fitQuality + 0.2 * inlierQuality,
    {
      en: `The photo is the merchant's reference photo ${q.en}${transformEn} with ${n} locally changed region${n === 1 ? '' : 's'} (about ${pct}% of the item); everywhere else it matches the reference after alignment and colour matching.`,
      zh: `该照片是商家参考图${q.zh}${transformZh}的改动版本：对齐并校正颜色后，除 ${n} 处局部区域（约占商品面积 ${pct}%）外与参考图一致。`,
    },
    {
      regions: f.regions.map((r) => ({ ...r, label: 'changed vs reference / 与参考图不同' })),
      heatmap: await residualHeatmap(f.residual!),
      shareOfObject: round(share, 4),
      reference: refEvidence(f),
      alsoMatched: others.map((o) => o.reference.id),
    },
    {
      en: 'A buyer’s own photo of a received item differs from the listing photo everywhere: viewpoint, light, background and sensor noise. Matching it everywhere except in a few patches means the merchant’s picture was taken and edited — typically damage added with an editing or AI tool. The regions show where.',
      zh: '买家自己拍摄的收货照片与商品图在视角、光线、背景和噪点上处处不同。除少数区域外完全一致，说明照片取自商家图片并经过修改，常见为用修图或AI工具添加破损；标出的区域即为改动位置。',
    },
  );
}

function copySignal(f: ReferenceFinding, others: ReferenceFinding[]): Signal {
  const q = quote(f.reference.id);
  const ev = refEvidence(f);
  const cropped = (f.referenceVisible ?? 1) < 0.95;
  return signal(
    'reuse.reference_copy',
    'suspicious',
    0.8,
    0.6 + 0.3 * Math.max(0, 1 - (f.changes?.fitResidual ?? 8) / 8),
    {
      en: `The photo is the merchant's reference photo ${q.en} itself${cropped ? ' (cropped)' : ''}${ev.mirrored ? ' (mirrored)' : ''}, re-saved or resized, with no local change.`,
      zh: `该照片就是商家参考图${q.zh}本身${cropped ? '（经裁剪）' : ''}${ev.mirrored ? '（经镜像）' : ''}，仅重新保存或缩放，没有局部改动。`,
    },
    { reference: ev, alsoMatched: others.map((o) => o.reference.id) },
    {
      en: 'A claim photo should show the item the buyer received. Submitting the merchant’s own picture shows nothing about the delivered item.',
      zh: '售后凭证照片应当拍摄买家收到的商品；提交商家自己的图片并不能说明收到商品的状况。',
    },
  );
}

function sameProductSignal(same: ReferenceFinding[]): Signal {
  const best = same[0]!;
  const q = quote(best.reference.id);
  const places = best.changes?.misfit.places ?? 0;
  // the reason when the photo fitted the reference closely overall (a burst shot)
  const movedPct = Math.round(100 * (best.motion?.share ?? 0));
  const scattered = best.movedOnItsOwn
    ? {
        en: ` It fits the reference closely overall, but in ${movedPct}% of the item the picture is shifted by small displacements that differ from place to place (things moved, or parallax from a slightly different viewpoint), as happens in a second exposure of the same scene; a picture made from the reference is one geometric transformation of its pixels, shifted the same way everywhere.`,
        zh: `整体上与参考图高度吻合，但商品约 ${movedPct}% 的部分存在各处不同的细小位移（物体移动或视角略有变化产生的视差），符合同一场景再次拍摄的特征；由参考图修改而来的图片只是对其像素做一次整体几何变换，各处位移一致。`,
      }
    : best.scatteredMisfit
    ? {
        en: ` It fits the reference closely overall but differs in ${places} separate places spread over the item, as a second exposure of the same scene does (things moved); an edit would be one or a few places.`,
        zh: `整体上与参考图高度吻合，但在商品各处有 ${places} 处分散的差异，符合同一场景再次拍摄（物体有移动）的特征；若是修改，差异只会集中在一处或少数几处。`,
      }
    : { en: '', zh: '' };
  return signal(
    'reference.same_product',
    'info',
    0.3,
    Math.min(0.9, 0.4 + (best.alignment?.inliers ?? 0) / 200),
    {
      en: `The photo shows what looks like the same product as reference ${q.en}, photographed independently (different viewpoint, light or background).${scattered.en}`,
      zh: `该照片拍摄的商品看起来与参考图${q.zh}为同一款商品，且是独立拍摄的（视角、光线或背景不同）。${scattered.zh}`,
    },
    {
      reference: refEvidence(best),
      alsoMatched: same.slice(1).map((o) => o.reference.id),
      scatteredMisfit: best.scatteredMisfit ?? false,
      movedOnItsOwn: best.movedOnItsOwn ?? false,
    },
    {
      en: 'This is what a genuine photo of the delivered item looks like: it is not derived from the merchant’s picture.',
      zh: '这符合买家实拍收货商品的特征：并非由商家图片修改而来。',
    },
  );
}
