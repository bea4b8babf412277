// Pixel forensics on the JPEG's own coefficients (docs/pixel-forensics.md):
//
//   jpeg.local_edit    (suspicious) the picture was saved twice on the same 8×8 grid, except
//                                   for some regions that were saved once only: pixels painted
//                                   in between the two saves (damage added to a photo)
//   jpeg.recompressed  (info)       the picture was saved at least twice, the first time at a
//                                   lower quality (a fact for the reviewer: not a camera original)
//
// Silent on PNG/WebP/HEIC, on pictures saved once, on pictures whose first save was finer than
// the last (the trace is too faint to map), and whenever the map does not describe the picture
// as a whole. It recommends a human look and never decides alone: a sticker, a blurred name or
// a crop-and-paste by an honest buyer's chat app is a local edit too.

import { readJpegCoefficients } from '../jpeg/coefficients.ts';
import { analyseDoubleCompression, type DoubleCompressionAnalysis } from '../jpeg/double-compression.ts';
import { unjudgedBlocks, findLocalEdits, type LocalEditFinding } from '../jpeg/local-edit.ts';
import { estimateQuality } from '../jpeg/quality.ts';
import { greyHeatmap } from '../heatmap.ts';
import { dihedral, orientBox, ORIENTATION_VARIANT } from '../orientation.ts';
import { round, signal } from '../signal.ts';
import type { DecodedImage, Detector, Heatmap, Signal } from '../types.ts';

/**
 * Larger pictures are not read (the check stays silent): every coefficient of every component is
 * kept, 3 bytes per pixel for 4:2:0, on top of the decoded pixels the other detectors hold.
 */
const MAX_PIXELS = 64_000_000;
/** Evidence (nats) of the strongest region at which the local-edit score reaches ~0.63. */
const REGION_EVIDENCE_SCALE = 120;

export const jpegCompressionDetector: Detector = {
  id: 'jpeg-compression',
  version: '1.0.0',
  async run(image: DecodedImage): Promise<Signal[]> {
    if (image.format !== 'jpeg') return [];
    let coefficients;
    try {
      coefficients = readJpegCoefficients(image.bytes, { maxPixels: MAX_PIXELS });
    } catch {
      // a JPEG our reader does not take (arithmetic coding, 12-bit, over MAX_PIXELS, entropy
      // data damaged beyond what it resynchronises): no reading, no claim
      return [];
    }
    // Damaged entropy data (libjpeg decodes it with a warning) turns the blocks after the damage
    // into garbage that reads as "saved once": a file broken in transit is not an edit.
    if (coefficients.damaged) return [];
    // greyscale or YCbCr only: in a CMYK or YCCK file the first component is not the luma the
    // clipping mask is computed for, and such files come from print workflows, not phones
    if (coefficients.components.length !== 1 && coefficients.components.length !== 3) return [];
    const luma = coefficients.components[0]!;
    const { width: sw, height: sh } = coefficients;
    const rgb = await image.rgb(); // decoded once per image and shared with the other detectors
    const analysis = analyseDoubleCompression(luma, { unreliable: () => unjudgedBlocks(rgb, luma.blocksWide, luma.blocksHigh, sw, sh, image.orientation) });
    if (!analysis?.compressedTwice) return [];
    const finding = findLocalEdits(analysis, sw, sh);
    const lastQuality = estimateQuality(Array.from(luma.quant, (step, index) => ({ index, step })), 0.9);
    const firstQuality = analysis.mapped ? analysis.firstSave?.quality : undefined;
    const out: Signal[] = [recompressedSignal(analysis, firstQuality, lastQuality)];
    if (finding.regions.length > 0) out.push(await localEditSignal(image, analysis, finding, sw, sh));
    return out;
  },
};

function recompressedSignal(a: DoubleCompressionAnalysis, first: number | undefined, last: number | undefined): Signal {
  const qEn = first !== undefined && last !== undefined ? `, first at JPEG quality ≈ ${first}, then at ≈ ${last}` : '';
  const qZh = first !== undefined && last !== undefined ? `，第一次质量约 ${first}，之后约 ${last}` : '';
  return signal(
    'jpeg.recompressed',
    'info',
    0.1,
    Math.min(0.95, 0.5 + a.used.length / 40),
    {
      en: `The photo was saved as JPEG at least twice on the same 8×8 grid${qEn}: it is not the file a camera wrote.`,
      zh: `该照片至少以 JPEG 格式在同一 8×8 网格上保存过两次${qZh}：它不是相机直接生成的原始文件。`,
    },
    {
      tags: ['jpeg:double_compression'],
      firstQuality: first,
      lastQuality: last,
      frequencies: a.used.map((f) => ({ zigzag: f.zigzag, q1: f.q1, q2: f.q2, gainPerKiloBlock: round(f.gainPerKiloBlock, 1) })),
      evidence: round(a.evidence, 1),
    },
    {
      en: 'Chat apps and platforms re-save photos, so this alone says nothing about the claim. It is what lets the local-edit check work: parts saved only once stand out.',
      zh: '聊天软件和平台会重新保存照片，因此这一点本身不说明索赔真假；但正因如此，只保存过一次的局部区域才能被识别出来。',
    },
  );
}

async function localEditSignal(image: DecodedImage, a: DoubleCompressionAnalysis, f: LocalEditFinding, sw: number, sh: number): Promise<Signal> {
  const strongest = f.regions[0]!.evidence;
  const score = 1 - Math.exp(-strongest / REGION_EVIDENCE_SCALE);
  // more frequencies behind the double-compression reading, more trust in the map
  const confidence = Math.min(0.85, 0.45 + 0.02 * a.used.length);
  const regions = f.regions.slice(0, 8).map((r) => ({
    ...orientBox(r, sw, sh, image.orientation),
    score: round(1 - Math.exp(-r.evidence / REGION_EVIDENCE_SCALE)),
    label: 'saved_once',
  }));
  const areaShare = f.regions.reduce((s, r) => s + r.width * r.height, 0) / (sw * sh);
  const pct = Math.max(0.1, round(100 * areaShare, 1));
  return signal(
    'jpeg.local_edit',
    'suspicious',
    score,
    confidence,
    {
      en: `${f.regions.length === 1 ? 'One region' : `${f.regions.length} regions`} (${pct} % of the photo) ${f.regions.length === 1 ? 'shows' : 'show'} the trace of one JPEG save only, while the rest of the photo shows two: ${f.regions.length === 1 ? 'it was' : 'they were'} most likely changed between the two saves.`,
      zh: `${f.regions.length === 1 ? '有 1 个区域' : `有 ${f.regions.length} 个区域`}（占照片的 ${pct}%）只有一次 JPEG 保存的痕迹，而照片其余部分有两次：这些区域很可能是在两次保存之间被修改的。`,
    },
    {
      tags: ['jpeg:aligned_double_compression', 'jpeg:single_compressed_regions'],
      regions,
      heatmap: await suspicionHeatmap(a, f, image.orientation),
      flaggedShare: round(f.flaggedShare),
      regionEvidence: f.regions.slice(0, 8).map((r) => round(r.evidence, 1)),
    },
    {
      en: 'Damage painted onto a photo (by hand or by an AI tool) and saved again leaves exactly this trace. So do stickers, blurred text or other retouching, so the reviewer should look at what the marked region shows.',
      zh: '在照片上（手工或用 AI 工具）画上损坏再保存，正会留下这种痕迹；贴纸、打码或其他修饰也会，因此审核人员应查看标记区域显示的内容。',
    },
  );
}

async function suspicionHeatmap(a: DoubleCompressionAnalysis, f: LocalEditFinding, orientation: number): Promise<Heatmap> {
  const o = dihedral({ data: f.suspicion, width: a.blocksWide, height: a.blocksHigh }, ORIENTATION_VARIANT[orientation] ?? 0);
  return greyHeatmap(Uint8Array.from(o.data, (v) => Math.round(255 * v)), o.width, o.height);
}
