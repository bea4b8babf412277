// IPTC Digital Source Type (XMP Iptc4xmpExt:DigitalSourceType): a controlled vocabulary
// that cameras, editors and AI services use to say how a picture came to be. Google,
// Adobe, OpenAI, Midjourney and others write trainedAlgorithmicMedia for generated
// images and compositeWithTrainedAlgorithmicMedia for photos edited with generative AI
// (generative fill, object removal). A claim photo with either is the case we look for.

import { signal } from '../signal.ts';
import type { DecodedImage, Detector, LocalizedText, Signal, SignalVerdict } from '../types.ts';
import { findXmpProperty, NS } from '../xmp.ts';
import { tagText } from './metadata-common.ts';

interface SourceType {
  verdict: SignalVerdict;
  score: number;
  confidence: number;
  text: LocalizedText;
  why: LocalizedText;
}

const AI_WHY: LocalizedText = {
  en: 'The software that wrote this file declared the picture was made by a generative AI model; a genuine damage photo comes from a camera.',
  zh: '写入该文件的软件声明图片由生成式 AI 模型生成；真实的破损照片应来自相机拍摄。',
};

const INFO_WHY: LocalizedText = {
  en: 'A fact about how the picture was made, for the reviewer; it does not by itself indicate fraud.',
  zh: '关于图片来源的事实，供审核参考；其本身并不表示欺诈。',
};

/** Terms of the IPTC digital source type vocabulary (http://cv.iptc.org/newscodes/digitalsourcetype/). */
const SOURCE_TYPES: Record<string, SourceType> = {
  trainedAlgorithmicMedia: {
    verdict: 'ai_generated',
    score: 0.95,
    confidence: 0.9,
    text: { en: 'created by a generative AI model (trainedAlgorithmicMedia)', zh: '由生成式 AI 模型生成（trainedAlgorithmicMedia）' },
    why: AI_WHY,
  },
  compositeWithTrainedAlgorithmicMedia: {
    // A real photo with AI-generated parts: exactly how fake damage is added to an
    // intact item, so it is treated as AI generation of the claim's content.
    verdict: 'ai_generated',
    score: 0.9,
    confidence: 0.9,
    text: {
      en: 'a composite that includes generative-AI content (compositeWithTrainedAlgorithmicMedia), e.g. generative fill',
      zh: '包含生成式 AI 内容的合成图（compositeWithTrainedAlgorithmicMedia），例如生成式填充',
    },
    why: {
      en: 'Part of the picture was produced by generative AI inside an editor. Adding cracks, stains or damage to a photo of an intact item is done exactly this way.',
      zh: '图片的一部分由编辑软件中的生成式 AI 生成。在完好商品的照片上添加裂痕、污渍或破损正是这样做的。',
    },
  },
  algorithmicallyEnhanced: {
    verdict: 'info',
    score: 0.2,
    confidence: 0.7,
    text: { en: 'a capture enhanced by algorithms (algorithmicallyEnhanced)', zh: '经算法增强的拍摄图像（algorithmicallyEnhanced）' },
    why: INFO_WHY,
  },
  algorithmicMedia: {
    verdict: 'info',
    score: 0.2,
    confidence: 0.7,
    text: { en: 'made purely by an algorithm without a trained model (algorithmicMedia)', zh: '由非训练模型的算法生成（algorithmicMedia）' },
    why: INFO_WHY,
  },
  compositeSynthetic: {
    verdict: 'info',
    score: 0.2,
    confidence: 0.7,
    text: { en: 'a composite including synthetic elements (compositeSynthetic)', zh: '包含合成元素的合成图（compositeSynthetic）' },
    why: INFO_WHY,
  },
  composite: {
    verdict: 'info',
    score: 0.15,
    confidence: 0.7,
    text: { en: 'a composite of several pictures (composite)', zh: '由多张图片合成（composite）' },
    why: INFO_WHY,
  },
  compositeCapture: {
    verdict: 'info',
    score: 0,
    confidence: 0.7,
    text: { en: 'a composite of camera captures, e.g. HDR (compositeCapture)', zh: '多次拍摄合成，如 HDR（compositeCapture）' },
    why: INFO_WHY,
  },
  digitalCapture: {
    verdict: 'info',
    score: 0,
    confidence: 0.7,
    text: { en: 'an original digital camera capture (digitalCapture)', zh: '数码相机原始拍摄（digitalCapture）' },
    why: INFO_WHY,
  },
  computationalCapture: {
    verdict: 'info',
    score: 0,
    confidence: 0.7,
    text: { en: 'a computational camera capture (computationalCapture)', zh: '计算摄影拍摄（computationalCapture）' },
    why: INFO_WHY,
  },
  screenCapture: {
    verdict: 'info',
    score: 0.1,
    confidence: 0.7,
    text: { en: 'a screenshot (screenCapture)', zh: '屏幕截图（screenCapture）' },
    why: INFO_WHY,
  },
  dataDrivenMedia: {
    verdict: 'info',
    score: 0.1,
    confidence: 0.7,
    text: { en: 'data-driven media (dataDrivenMedia)', zh: '数据驱动生成的媒体（dataDrivenMedia）' },
    why: INFO_WHY,
  },
};

// Older vocabulary spellings still seen in files.
const ALIASES: Record<string, string> = {
  softwareImage: 'algorithmicMedia',
  digitalArt: 'algorithmicMedia',
  minorHumanEdits: 'digitalCapture',
};

export interface DigitalSourceReading {
  value: string;
  term: string | undefined;
  tag: string;
}

export function readDigitalSourceTypes(xmp: string | undefined, tags: Record<string, unknown>): DigitalSourceReading[] {
  const out: DigitalSourceReading[] = [];
  if (xmp) {
    for (const p of findXmpProperty(xmp, NS.iptcExt, 'DigitalSourceType')) {
      for (const v of p.values) if (v.trim()) out.push({ value: v.trim(), term: termOf(v), tag: `xmp:${p.prefix}:DigitalSourceType` });
    }
  }
  if (!xmp) {
    // exifr found XMP our packet scan did not (an unusual container); exifr ignores
    // namespaces, so this is only trusted when we have no packet to check it against.
    const v = tagText(tags, 'DigitalSourceType');
    if (v) out.push({ value: v, term: termOf(v), tag: 'xmp:Iptc4xmpExt:DigitalSourceType' });
  }
  return out;
}

/** The vocabulary term of a value: the URI's last path segment (or the bare term). */
function termOf(value: string): string | undefined {
  const m = /([A-Za-z]+)\/?\s*$/.exec(value.trim());
  if (!m) return undefined;
  const term = m[1]!;
  const key = Object.keys(SOURCE_TYPES).find((k) => k.toLowerCase() === term.toLowerCase());
  if (key) return key;
  const alias = Object.keys(ALIASES).find((k) => k.toLowerCase() === term.toLowerCase());
  return alias ? ALIASES[alias] : undefined;
}

export function iptcSignals(readings: DigitalSourceReading[]): Signal[] {
  const seen = new Set<string>();
  const out: Signal[] = [];
  for (const r of readings) {
    if (seen.has(r.value)) continue;
    seen.add(r.value);
    const st = r.term ? SOURCE_TYPES[r.term] : undefined;
    if (!st) {
      out.push(
        signal(
          'iptc.ai_source',
          'info',
          0,
          0.5,
          {
            en: `IPTC digital source type "${r.value}" is not a term of the IPTC vocabulary.`,
            zh: `IPTC 数字来源类型 "${r.value}" 不属于 IPTC 词表。`,
          },
          { tags: [r.tag], value: r.value, term: null, aiGenerated: false },
          INFO_WHY,
        ),
      );
      continue;
    }
    const ai = st.verdict === 'ai_generated';
    out.push(
      signal(
        'iptc.ai_source',
        st.verdict,
        st.score,
        st.confidence,
        {
          en: `XMP declares the IPTC digital source type: ${st.text.en}.`,
          zh: `XMP 声明了 IPTC 数字来源类型：${st.text.zh}。`,
        },
        { tags: [r.tag], value: r.value, term: r.term, aiGenerated: ai },
        st.why,
      ),
    );
  }
  return out;
}

export const iptcSourceDetector: Detector = {
  id: 'iptc.ai_source',
  version: '1.0.0',
  async run(image: DecodedImage): Promise<Signal[]> {
    const meta = await image.metadata();
    return iptcSignals(readDigitalSourceTypes(meta.xmp, meta.tags));
  },
};
