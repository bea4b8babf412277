// GB 45438-2025 implicit label. Chinese AI services must write a metadata field `AIGC`
// whose value is JSON with seven keys: Label (what the content is), ContentProducer and
// ProduceID (the generating service and its content number), ReservedCode1, and
// ContentPropagator / PropagateID (the platform that distributed it, and its number),
// ReservedCode2. Label "1" means the content IS AI-generated, "2" that it MAY be (the
// uploader declared it), "3" that it is SUSPECTED to be (a platform detected traces).
// It is carried in XMP (namespace http://www.tc260.org.cn/ns/AIGC/1.0/), EXIF
// UserComment as {"AIGC":{...}}, or a PNG text chunk with keyword AIGC.
//
// Signals: `aigc.label` for a readable label; `aigc.label_tampered` when a label is
// there but broken (invalid JSON, no Label, a Label outside 1–3, keys removed) — the
// law forbids removing or altering the label, and a half-removed one is a trace.

import { signal } from '../signal.ts';
import type { DecodedImage, Detector, LocalizedText, ParsedMetadata, Signal } from '../types.ts';
import { decodeXmlEntities, findXmpProperty, NS } from '../xmp.ts';
import { clip, jpegComments, pngTexts, tagText, userCommentText } from './metadata-common.ts';

export const AIGC_KEYS = [
  'Label',
  'ContentProducer',
  'ProduceID',
  'ReservedCode1',
  'ContentPropagator',
  'PropagateID',
  'ReservedCode2',
] as const;

/** Keys the generating service must fill; the others belong to later propagators or are reserved. */
const REQUIRED_FILLED = ['Label', 'ContentProducer', 'ProduceID'] as const;

export type AigcLocation = 'xmp' | 'exif_usercomment' | 'png_text' | 'exif_text' | 'jpeg_comment';

export type AigcProblem =
  | 'invalid_json'
  | 'not_object'
  | 'missing_label'
  | 'label_out_of_range'
  | 'missing_fields'
  | 'empty_required_field'
  | 'conflicting_labels';

export interface AigcReading {
  location: AigcLocation;
  /** Evidence tag naming the carrier, e.g. `xmp:TC260:AIGC`. */
  tag: string;
  raw: string;
  /** Parsed key/values when the JSON was readable. */
  fields?: Record<string, unknown>;
  label?: string;
  problems: AigcProblem[];
  missingFields: string[];
  emptyFields: string[];
  unknownFields: string[];
  /** For broken JSON: the Label we could still recognise in the text. */
  recoveredLabel?: string;
  /** XMP only: namespace the AIGC property was bound to. */
  namespace?: string;
}

const LABEL_MEANING: Record<string, LocalizedText> = {
  '1': { en: 'AI-generated content', zh: '属于人工智能生成合成内容' },
  '2': { en: 'possibly AI-generated content', zh: '可能为人工智能生成合成内容' },
  '3': { en: 'suspected AI-generated content', zh: '疑似为人工智能生成合成内容' },
};

const LOCATION_TEXT: Record<AigcLocation, LocalizedText> = {
  xmp: { en: 'XMP metadata', zh: 'XMP 元数据' },
  exif_usercomment: { en: 'EXIF UserComment', zh: 'EXIF 用户注释（UserComment）' },
  png_text: { en: 'a PNG text chunk', zh: 'PNG 文本块' },
  exif_text: { en: 'an EXIF text field', zh: 'EXIF 文本字段' },
  jpeg_comment: { en: 'a JPEG comment', zh: 'JPEG 注释段' },
};

/** Finds every AIGC label carrier in the file's metadata. */
export function findAigcLabels(meta: ParsedMetadata, bytes?: Uint8Array): AigcReading[] {
  const out: AigcReading[] = [];
  if (meta.xmp) {
    for (const p of findXmpProperty(meta.xmp, NS.tc260, 'AIGC', { anyNamespace: true })) {
      // A language alternative (rdf:Alt) would repeat the value: the first non-empty one counts.
      const raw = (p.values.find((v) => v.trim() !== '') ?? '').trim();
      const reading = readLabel(raw, 'xmp', `xmp:${p.prefix}:AIGC`);
      reading.namespace = p.ns;
      out.push(reading);
    }
  }
  if (!meta.xmp && typeof meta.tags['AIGC'] === 'string' && !meta.pngText?.['AIGC']) {
    // exifr found an AIGC XMP property our packet scan missed (e.g. an unusual container).
    out.push(readLabel(decodeXmlEntities(meta.tags['AIGC']).trim(), 'xmp', 'xmp:AIGC'));
  }
  const uc = userCommentText(meta.tags);
  if (uc && /AIGC/i.test(uc)) out.push(readWrapped(uc, 'exif_usercomment', 'exif:UserComment'));
  for (const key of ['ImageDescription', 'XPComment', 'XPSubject', 'Artist', 'Copyright']) {
    const t = tagText(meta.tags, key);
    if (t && /"AIGC"\s*:/.test(t)) out.push(readWrapped(t, 'exif_text', `exif:${key}`));
  }
  for (const [keyword, text] of Object.entries(pngTexts(meta.pngText))) {
    if (keyword.toUpperCase() === 'AIGC') out.push(readLabel(text.trim(), 'png_text', `png:text:${keyword}`));
    else if (/^(comment|description)$/i.test(keyword) && /"AIGC"\s*:/.test(text)) {
      out.push(readWrapped(text, 'png_text', `png:text:${keyword}`));
    }
  }
  if (bytes) {
    for (const c of jpegComments(bytes)) {
      if (/"AIGC"\s*:/.test(c)) out.push(readWrapped(c, 'jpeg_comment', 'jpeg:COM'));
    }
  }
  return out;
}

/** A text holding `{"AIGC": {...}}` (or `{"AIGC": "<json>"}`); tolerated: a bare label object. */
function readWrapped(text: string, location: AigcLocation, tag: string): AigcReading {
  const trimmed = text.trim();
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    // Maybe the wrapper is intact but the label inside is not: cut out the inner object
    // (everything after `"AIGC":`, minus the wrapper's closing brace). indexOf keeps
    // this linear on hostile text.
    const key = trimmed.indexOf('"AIGC"');
    const colon = key < 0 ? -1 : trimmed.indexOf(':', key);
    if (colon < 0) return readLabel(trimmed, location, tag);
    let inner = trimmed.slice(colon + 1).trim();
    if (inner.endsWith('}') && inner.startsWith('{')) {
      const opens = inner.split('{').length;
      const closes = inner.split('}').length;
      if (closes > opens) inner = inner.slice(0, -1).trim();
    }
    return readLabel(inner, location, tag);
  }
  if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
    const inner = (parsed as Record<string, unknown>)['AIGC'];
    if (inner !== undefined) {
      const raw = typeof inner === 'string' ? inner : JSON.stringify(inner);
      return readLabel(raw.trim(), location, tag);
    }
  }
  return readLabel(trimmed, location, tag);
}

/** Parses and checks one label value (the JSON object with Label, ContentProducer, …). */
export function readLabel(raw: string, location: AigcLocation, tag: string): AigcReading {
  const r: AigcReading = { location, tag, raw, problems: [], missingFields: [], emptyFields: [], unknownFields: [] };
  let value: unknown;
  try {
    value = JSON.parse(raw);
    // Some writers double-encode: the JSON is a string holding JSON.
    if (typeof value === 'string') value = JSON.parse(value);
  } catch {
    r.problems.push('invalid_json');
    const m = /"Label"\s*:\s*"?([^",}\s]*)/.exec(raw);
    if (m) r.recoveredLabel = m[1];
    return r;
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    r.problems.push('not_object');
    return r;
  }
  const fields = value as Record<string, unknown>;
  r.fields = fields;
  // Key names are matched case-insensitively: a writer that lower-cases them still labels.
  const lower = new Map(Object.keys(fields).map((k) => [k.toLowerCase(), k]));
  const get = (k: string) => {
    const real = lower.get(k.toLowerCase());
    return real === undefined ? undefined : fields[real];
  };
  for (const k of AIGC_KEYS) if (!lower.has(k.toLowerCase())) r.missingFields.push(k);
  const known = new Set(AIGC_KEYS.map((k) => k.toLowerCase()));
  r.unknownFields = Object.keys(fields).filter((k) => !known.has(k.toLowerCase()));
  const label = get('Label');
  if (label === undefined) {
    r.problems.push('missing_label');
  } else {
    const text = typeof label === 'number' ? String(label) : typeof label === 'string' ? label.trim() : '';
    r.label = typeof label === 'string' || typeof label === 'number' ? String(label) : JSON.stringify(label);
    if (text === '1' || text === '2' || text === '3') r.label = text;
    else r.problems.push('label_out_of_range');
  }
  if (r.missingFields.some((k) => k !== 'Label')) r.problems.push('missing_fields');
  for (const k of REQUIRED_FILLED) {
    if (k === 'Label') continue;
    const v = get(k);
    if (v !== undefined && (v === null || String(v).trim() === '')) r.emptyFields.push(k);
  }
  if (r.emptyFields.length) r.problems.push('empty_required_field');
  return r;
}

function isValid(r: AigcReading): boolean {
  return r.label !== undefined && !r.problems.includes('label_out_of_range') && !r.problems.includes('invalid_json');
}

const PROBLEM_TEXT: Record<AigcProblem, (r: AigcReading) => LocalizedText> = {
  invalid_json: (r) => ({
    en: `the value is not valid JSON${r.recoveredLabel ? ` (a Label "${r.recoveredLabel}" is still readable in it)` : ''}`,
    zh: `字段值不是合法的 JSON${r.recoveredLabel ? `（其中仍可读出 Label "${r.recoveredLabel}"）` : ''}`,
  }),
  not_object: () => ({ en: 'the value is JSON but not an object', zh: '字段值是 JSON 但不是对象' }),
  missing_label: () => ({ en: 'the Label key is missing', zh: '缺少 Label 键' }),
  label_out_of_range: (r) => ({
    en: `Label is "${r.label}", but only "1", "2" or "3" are defined`,
    zh: `Label 为 "${r.label}"，而标准只定义了 "1"、"2"、"3"`,
  }),
  missing_fields: (r) => ({
    en: `keys removed: ${r.missingFields.filter((k) => k !== 'Label').join(', ')}`,
    zh: `缺少键：${r.missingFields.filter((k) => k !== 'Label').join('、')}`,
  }),
  empty_required_field: (r) => ({
    en: `required fields left empty: ${r.emptyFields.join(', ')}`,
    zh: `必填字段为空：${r.emptyFields.join('、')}`,
  }),
  conflicting_labels: () => ({
    en: 'different carriers in the file hold different Label values',
    zh: '文件中不同位置的标识给出了不同的 Label 值',
  }),
};

function evidenceOf(r: AigcReading): Record<string, unknown> {
  const e: Record<string, unknown> = { location: r.location, tag: r.tag, raw: clip(r.raw, 1000) };
  if (r.fields) e['fields'] = r.fields;
  if (r.label !== undefined) e['label'] = r.label;
  if (r.namespace !== undefined) e['namespace'] = r.namespace;
  if (r.problems.length) e['problems'] = r.problems;
  if (r.missingFields.length) e['missingFields'] = r.missingFields;
  if (r.emptyFields.length) e['emptyFields'] = r.emptyFields;
  if (r.unknownFields.length) e['unknownFields'] = r.unknownFields;
  if (r.recoveredLabel !== undefined) e['recoveredLabel'] = r.recoveredLabel;
  return e;
}

export function aigcSignals(readings: AigcReading[]): Signal[] {
  if (!readings.length) return [];
  const out: Signal[] = [];
  const valid = readings.filter(isValid);
  const labels = [...new Set(valid.map((r) => r.label!))];
  if (labels.length > 1) for (const r of valid) r.problems.push('conflicting_labels');
  if (valid.length) {
    // The strongest declaration wins ("1" before "2" before "3").
    const best = [...valid].sort((a, b) => Number(a.label) - Number(b.label))[0]!;
    const meaning = LABEL_MEANING[best.label!]!;
    const where = LOCATION_TEXT[best.location];
    const producer = best.fields ? String(best.fields['ContentProducer'] ?? '') : '';
    const propagator = best.fields ? String(best.fields['ContentPropagator'] ?? '') : '';
    const who = producer ? `; producer ${producer}` : '';
    const whoZh = producer ? `；生成服务提供者 ${producer}` : '';
    const via = propagator ? `, distributed via ${propagator}` : '';
    const viaZh = propagator ? `，传播平台 ${propagator}` : '';
    const isAi = best.label === '1';
    out.push(
      signal(
        'aigc.label',
        isAi ? 'ai_generated' : 'suspicious',
        isAi ? 0.95 : best.label === '2' ? 0.6 : 0.5,
        isAi ? 0.9 : 0.8,
        {
          en: `GB 45438-2025 implicit AI label found in ${where.en}: Label "${best.label}" = ${meaning.en}${who}${via}.`,
          zh: `在${where.zh}中发现 GB 45438-2025 隐式标识：Label "${best.label}"，即${meaning.zh}${whoZh}${viaZh}。`,
        },
        {
          tags: readings.filter(isValid).map((r) => r.tag),
          ...evidenceOf(best),
          meaning: meaning.en,
          locations: valid.map((r) => ({ location: r.location, tag: r.tag, label: r.label })),
        },
        isAi
          ? {
              en: 'AI services in China must write this label into what they generate; a claim photo carrying it came out of an AI generator or editor, not a camera.',
              zh: '我国的 AI 生成服务须在生成内容中写入此标识；带有该标识的索赔照片出自 AI 生成或编辑工具，而非相机拍摄。',
            }
          : {
              en: `The label does not say the picture is AI-generated for certain: "${best.label}" is set when ${best.label === '2' ? 'the uploader declared it as AI content' : 'a platform detected traces of AI generation'}. Check the photo by hand.`,
              zh: `该标识并不确定图片由 AI 生成："${best.label}" 表示${best.label === '2' ? '上传者声明其为 AI 生成内容' : '平台检测到 AI 生成的痕迹'}。请人工核查照片。`,
            },
      ),
    );
  }
  const broken = readings.filter((r) => r.problems.length > 0);
  if (broken.length) {
    const first = broken[0]!;
    const grave = broken.some((r) =>
      r.problems.some((p) => p === 'invalid_json' || p === 'missing_label' || p === 'label_out_of_range' || p === 'not_object' || p === 'conflicting_labels'),
    );
    const whats = broken.flatMap((r) => r.problems.map((p) => PROBLEM_TEXT[p](r)));
    const uniq = (xs: string[]) => [...new Set(xs)];
    out.push(
      signal(
        'aigc.label_tampered',
        'suspicious',
        grave ? 0.6 : 0.35,
        0.8,
        {
          en: `A GB 45438-2025 AIGC label is present in ${LOCATION_TEXT[first.location].en} but malformed: ${uniq(whats.map((w) => w.en)).join('; ')}.`,
          zh: `${LOCATION_TEXT[first.location].zh}中存在 GB 45438-2025 AIGC 标识，但格式异常：${uniq(whats.map((w) => w.zh)).join('；')}。`,
        },
        {
          tags: broken.map((r) => r.tag),
          ...evidenceOf(first),
          problem: first.problems[0],
          problems: uniq(broken.flatMap((r) => r.problems)),
          readings: broken.map(evidenceOf),
        },
        {
          en: 'Only AI generation services and platforms write this field. A damaged or partly removed label suggests the file went through an AI tool and someone tried to strip or alter the label, which the labelling rules forbid.',
          zh: '只有 AI 生成服务和传播平台会写入该字段。标识损坏或被部分删除，说明文件经过 AI 工具处理，且有人试图删除或篡改标识，这是标识办法所禁止的。',
        },
      ),
    );
  }
  return out;
}

export const aigcLabelDetector: Detector = {
  id: 'aigc.label',
  version: '1.0.0',
  async run(image: DecodedImage): Promise<Signal[]> {
    const meta = await image.metadata();
    return aigcSignals(findAigcLabels(meta, image.format === 'jpeg' ? image.bytes : undefined));
  },
};
