// Traces that generators and editors leave in metadata. Generators: Stable Diffusion
// WebUI (A1111/Forge) writes its settings as `parameters` (PNG text or EXIF
// UserComment), ComfyUI its node graph as `prompt` and `workflow` PNG text, NovelAI,
// InvokeAI and Fooocus their own keys, and hosted services (Midjourney, DALL·E,
// Firefly, Google, Chinese services …) name themselves in Software / CreatorTool /
// credit fields. Editors (Photoshop, Meitu, 醒图 …) name themselves in EXIF Software,
// XMP CreatorTool or the XMP edit history.
//
// A generator trace means the file came out of an AI generator → `ai_generated`. An
// editor trace is only `suspicious` with a moderate score: honest buyers crop and
// brighten photos too. Camera firmware and vendor transfer tools are never flagged:
// only names on the lists below raise anything.

import { signal } from '../signal.ts';
import type { DecodedImage, Detector, ParsedMetadata, Signal } from '../types.ts';
import { NS, xmpTexts } from '../xmp.ts';
import { clip, jpegComments, pngTexts, tagText, userCommentText } from './metadata-common.ts';

export interface TextSource {
  /** Evidence tag, e.g. `exif:Software`. */
  tag: string;
  value: string;
}

export interface GeneratorTrace {
  generator: string;
  tag: string;
  /** txt2img, img2img, inpaint, edit, upscale, controlnet … when the metadata shows it. */
  mode?: string;
  models?: string[];
  loras?: string[];
  prompt?: string;
  detail?: Record<string, unknown>;
  value?: string;
}

export interface EditorTrace {
  name: string;
  zh: string;
  tag: string;
  value: string;
  score: number;
}

// ── Software-name lists ──────────────────────────────────────────────────────────

const GENERATOR_NAMES: { name: string; re: RegExp }[] = [
  { name: 'Midjourney', re: /midjourney/i },
  { name: 'DALL·E', re: /dall[·\-\s.]?e\b|openai|chatgpt|gpt-image|gpt-4o/i },
  { name: 'Adobe Firefly', re: /firefly/i },
  { name: 'Google Imagen / Gemini', re: /made with google ai|edited with google ai|google imagen|\bimagen[\s-]?[234]\b|\bgemini\b.*\b(image|flash|pro)\b|nano[\s-]?banana/i },
  { name: 'Stable Diffusion', re: /stable[\s-]?diffusion|stability\s?ai|dreamstudio|\bsdxl\b/i },
  { name: 'NovelAI', re: /novelai/i },
  { name: 'ComfyUI', re: /comfyui/i },
  { name: 'Stable Diffusion WebUI', re: /automatic1111|stable-diffusion-webui|sd-webui|\bforge\b.*webui/i },
  { name: 'InvokeAI', re: /invokeai/i },
  { name: 'Fooocus', re: /fooocus/i },
  { name: 'Leonardo.Ai', re: /leonardo\.?ai/i },
  { name: 'Ideogram', re: /ideogram/i },
  { name: 'FLUX (Black Forest Labs)', re: /black forest labs|\bflux\.?1\b/i },
  { name: 'Microsoft Designer / Bing Image Creator', re: /bing image creator|microsoft designer|image creator from microsoft/i },
  { name: 'Grok / Aurora', re: /\bgrok\b|xai aurora/i },
  { name: 'Runway', re: /runwayml|runway gen/i },
  { name: 'Playground AI', re: /playground\s?ai/i },
  { name: 'Kling / 可灵', re: /\bkling\b|可灵/i },
  { name: 'Jimeng / Dreamina / 即梦', re: /jimeng|dreamina|即梦/i },
  { name: 'Doubao / 豆包 / Seedream', re: /doubao|豆包|seedream/i },
  { name: 'Tongyi Wanxiang / 通义万相', re: /tongyi|wanxiang|通义|万相/i },
  { name: 'ERNIE / 文心一格', re: /文心一格|yige\.baidu|ernie-?vilg/i },
  { name: 'Hunyuan / 混元', re: /hunyuan|混元/i },
  { name: 'Kolors / 可图', re: /kolors|可图/i },
  { name: 'LiblibAI / 哩布哩布', re: /liblib|哩布/i },
  { name: 'MiracleVision / 奇想智能', re: /miraclevision|奇想智能/i },
  { name: 'Tensor.Art / SeaArt', re: /tensor\.art|seaart/i },
];

const EDITOR_NAMES: { name: string; zh: string; re: RegExp; score: number }[] = [
  // Order matters: Lightroom and Camera Raw carry "Photoshop" in their names.
  { name: 'Adobe Lightroom', zh: 'Adobe Lightroom', re: /lightroom/i, score: 0.3 },
  { name: 'Adobe Camera Raw', zh: 'Adobe Camera Raw', re: /camera raw/i, score: 0.3 },
  { name: 'Adobe Photoshop', zh: 'Adobe Photoshop', re: /photoshop/i, score: 0.4 },
  { name: 'GIMP', zh: 'GIMP', re: /\bgimp\b/i, score: 0.4 },
  { name: 'Meitu', zh: '美图秀秀', re: /meitu|美图|\bmtxx\b|mtphotoeditor|beautycam|美颜相机/i, score: 0.4 },
  { name: 'Xingtu (Hypic)', zh: '醒图', re: /xingtu|醒图|hypic/i, score: 0.4 },
  { name: 'Snapseed', zh: 'Snapseed', re: /snapseed/i, score: 0.35 },
  { name: 'PicsArt', zh: 'PicsArt 美易', re: /picsart/i, score: 0.4 },
  { name: 'Canva', zh: 'Canva 可画', re: /\bcanva\b/i, score: 0.4 },
  { name: 'CapCut / 剪映', zh: '剪映', re: /capcut|剪映|jianying/i, score: 0.4 },
  { name: 'Faceu / 轻颜', zh: '轻颜相机', re: /faceu|轻颜/i, score: 0.35 },
  { name: 'B612', zh: 'B612 咔叽', re: /\bb612\b/i, score: 0.3 },
  { name: 'Wink', zh: 'Wink', re: /^wink\b/i, score: 0.35 },
  { name: 'Facetune', zh: 'Facetune', re: /facetune/i, score: 0.35 },
  { name: 'VSCO', zh: 'VSCO', re: /\bvsco\b/i, score: 0.3 },
  { name: 'Pixelmator', zh: 'Pixelmator', re: /pixelmator/i, score: 0.4 },
  { name: 'Affinity Photo', zh: 'Affinity Photo', re: /affinity photo/i, score: 0.4 },
  { name: 'Paint.NET', zh: 'Paint.NET', re: /paint\.net/i, score: 0.4 },
  { name: 'PhotoScape', zh: 'PhotoScape', re: /photoscape/i, score: 0.35 },
  { name: 'Fotor', zh: 'Fotor 懒设计', re: /fotor/i, score: 0.35 },
  { name: 'Polarr', zh: 'Polarr 泼辣修图', re: /polarr|泼辣修图/i, score: 0.35 },
  { name: 'InShot', zh: 'InShot', re: /inshot/i, score: 0.35 },
  { name: 'PhotoDirector', zh: 'PhotoDirector', re: /photodirector/i, score: 0.4 },
  { name: 'Photopea', zh: 'Photopea', re: /photopea/i, score: 0.4 },
  { name: 'Pixlr', zh: 'Pixlr', re: /pixlr/i, score: 0.4 },
  { name: 'Gaoding / 稿定设计', zh: '稿定设计', re: /gaoding|稿定/i, score: 0.4 },
  { name: 'Luminar', zh: 'Luminar', re: /luminar/i, score: 0.35 },
  { name: 'Capture One', zh: 'Capture One', re: /capture one/i, score: 0.3 },
  { name: 'darktable', zh: 'darktable', re: /darktable/i, score: 0.3 },
  { name: 'RawTherapee', zh: 'RawTherapee', re: /rawtherapee/i, score: 0.3 },
  { name: 'Corel PaintShop', zh: 'Corel PaintShop', re: /paint ?shop|corel photo-paint/i, score: 0.4 },
  { name: 'ACDSee', zh: 'ACDSee', re: /acdsee|acd systems/i, score: 0.3 },
  { name: 'BeautyPlus', zh: 'BeautyPlus（美图）', re: /beautyplus/i, score: 0.4 },
  { name: 'PhotoRoom', zh: 'PhotoRoom', re: /photoroom/i, score: 0.4 },
  { name: 'Remini (AI enhancer)', zh: 'Remini（AI 画质增强）', re: /remini/i, score: 0.4 },
];

const GOOGLE_AI_CREDIT = /made with google ai|edited with google ai/i;

const MIDJOURNEY_JOB = /job id:\s*[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

// ── Where software names are written ─────────────────────────────────────────────

/** Metadata fields that name software (never the user's own prompt text). */
export function softwareFields(meta: ParsedMetadata, bytes?: Uint8Array): TextSource[] {
  const out: TextSource[] = [];
  const t = meta.tags;
  // Free-text fields (ImageDescription, Artist, titles) are left out on purpose: a
  // listing photo of a "Gemini" watch or a Spanish "imagen" must not read as a generator.
  for (const key of ['Software', 'ProcessingSoftware', 'HostComputer']) {
    const v = tagText(t, key);
    if (v) out.push({ tag: `exif:${key}`, value: v });
  }
  // Credit lines name agencies; only Google's fixed AI credit is read there (below).
  const credit = tagText(t, 'Credit');
  if (credit && GOOGLE_AI_CREDIT.test(credit)) out.push({ tag: 'iptc:Credit', value: credit });
  const xmp = meta.xmp;
  if (xmp) {
    for (const v of xmpTexts(xmp, NS.xmp, 'CreatorTool')) out.push({ tag: 'xmp:xmp:CreatorTool', value: v });
    for (const v of xmpTexts(xmp, NS.stEvt, 'softwareAgent')) out.push({ tag: 'xmp:xmpMM:History', value: v });
    for (const v of xmpTexts(xmp, NS.tiff, 'Software')) out.push({ tag: 'xmp:tiff:Software', value: v });
    for (const v of xmpTexts(xmp, NS.photoshop, 'Credit')) if (GOOGLE_AI_CREDIT.test(v)) out.push({ tag: 'xmp:photoshop:Credit', value: v });
    for (const v of xmpTexts(xmp, NS.photoshop, 'History')) out.push({ tag: 'xmp:photoshop:History', value: v });
  }
  for (const [k, v] of Object.entries(pngTexts(meta.pngText))) {
    if (/^(software|source|author|creator|creation software|generator)$/i.test(k)) out.push({ tag: `png:text:${k}`, value: v.trim() });
  }
  if (bytes) for (const c of jpegComments(bytes)) out.push({ tag: 'jpeg:COM', value: c });
  // Dedupe identical tag/value pairs (exifr and our XMP scan can see the same field).
  // Software names are short; clipping keeps the name regexes linear on hostile text.
  for (const f of out) f.value = f.value.slice(0, 4096);
  const seen = new Set<string>();
  return out.filter((s) => {
    const k = `${s.tag}\u0000${s.value}`;
    if (seen.has(k) || !s.value) return false;
    seen.add(k);
    return true;
  });
}

export function findEditors(fields: TextSource[]): EditorTrace[] {
  const out: EditorTrace[] = [];
  for (const f of fields) {
    // Make/Model name the camera; an editor name there would be a coincidence.
    if (f.tag === 'exif:Make' || f.tag === 'exif:Model') continue;
    const hit = EDITOR_NAMES.find((e) => e.re.test(f.value));
    if (hit && !GENERATOR_NAMES.some((g) => g.re.test(f.value))) {
      out.push({ name: hit.name, zh: hit.zh, tag: f.tag, value: clip(f.value, 200), score: hit.score });
    }
  }
  return out;
}

function findNamedGenerators(fields: TextSource[]): GeneratorTrace[] {
  const out: GeneratorTrace[] = [];
  for (const f of fields) {
    const hit = GENERATOR_NAMES.find((g) => g.re.test(f.value));
    if (hit) out.push({ generator: hit.name, tag: f.tag, value: clip(f.value, 300) });
    else if (MIDJOURNEY_JOB.test(f.value)) {
      out.push({ generator: 'Midjourney', tag: f.tag, value: clip(f.value, 300) });
    }
  }
  return out;
}

// ── ComfyUI ─────────────────────────────────────────────────────────────────────

const MODEL_INPUTS: Record<string, 'models' | 'loras' | 'other'> = {
  ckpt_name: 'models',
  unet_name: 'models',
  model_name: 'models',
  lora_name: 'loras',
  control_net_name: 'other',
  vae_name: 'other',
  clip_name: 'other',
  clip_name1: 'other',
  clip_name2: 'other',
  hypernetwork_name: 'loras',
  style_model_name: 'other',
};

function parseJson(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    // ComfyUI writes NaN/Infinity for some float widgets, which JSON.parse rejects.
    try {
      return JSON.parse(text.replace(/\bNaN\b|-?\bInfinity\b/g, 'null'));
    } catch {
      return undefined;
    }
  }
}

interface GraphFacts {
  nodeTypes: string[];
  models: string[];
  loras: string[];
  otherModels: string[];
  prompts: string[];
  denoise: number[];
}

function graphFromPrompt(prompt: unknown): GraphFacts | undefined {
  if (!prompt || typeof prompt !== 'object' || Array.isArray(prompt)) return undefined;
  const facts: GraphFacts = { nodeTypes: [], models: [], loras: [], otherModels: [], prompts: [], denoise: [] };
  for (const node of Object.values(prompt as Record<string, unknown>)) {
    if (!node || typeof node !== 'object') continue;
    const n = node as { class_type?: unknown; inputs?: Record<string, unknown> };
    if (typeof n.class_type !== 'string') continue;
    facts.nodeTypes.push(n.class_type);
    for (const [k, v] of Object.entries(n.inputs ?? {})) {
      if (typeof v === 'string' && MODEL_INPUTS[k]) {
        const bucket = MODEL_INPUTS[k]!;
        (bucket === 'models' ? facts.models : bucket === 'loras' ? facts.loras : facts.otherModels).push(v);
      }
      if (k === 'denoise' && typeof v === 'number') facts.denoise.push(v);
      if ((k === 'text' || k === 'prompt') && typeof v === 'string' && /TextEncode|Prompt/i.test(n.class_type)) facts.prompts.push(v);
    }
  }
  return facts.nodeTypes.length ? facts : undefined;
}

function graphFromWorkflow(workflow: unknown): GraphFacts | undefined {
  if (!workflow || typeof workflow !== 'object') return undefined;
  const nodes = (workflow as { nodes?: unknown }).nodes;
  if (!Array.isArray(nodes)) return undefined;
  const facts: GraphFacts = { nodeTypes: [], models: [], loras: [], otherModels: [], prompts: [], denoise: [] };
  for (const node of nodes) {
    if (!node || typeof node !== 'object') continue;
    const n = node as { type?: unknown; widgets_values?: unknown; mode?: unknown };
    if (typeof n.type !== 'string') continue;
    if (n.mode === 2 || n.mode === 4) continue; // muted / bypassed nodes did not run
    facts.nodeTypes.push(n.type);
    const widgets = Array.isArray(n.widgets_values) ? n.widgets_values : [];
    for (const w of widgets) {
      if (typeof w !== 'string') continue;
      if (/\.(safetensors|ckpt|pt|pth|bin|gguf|sft)$/i.test(w)) {
        if (/lora|hypernetwork/i.test(n.type)) facts.loras.push(w);
        else if (/checkpoint|unet|diffusion|model/i.test(n.type) && !/upscale|clip|vae|control/i.test(n.type)) facts.models.push(w);
        else facts.otherModels.push(w);
      } else if (/TextEncode/i.test(n.type)) facts.prompts.push(w);
    }
  }
  return facts.nodeTypes.length ? facts : undefined;
}

/** What kind of generation a node graph performs, by the nodes it contains. */
export function graphMode(f: GraphFacts): string {
  const types = f.nodeTypes.join(' ');
  const names = [...f.models, ...f.otherModels].join(' ');
  if (/Inpaint|SetLatentNoiseMask|DifferentialDiffusion/i.test(types) || /inpaint|[-_]fill/i.test(names)) return 'inpaint';
  if (/ImageEdit|ReferenceLatent|Kontext|InstructPix2Pix/i.test(types) || /edit|kontext/i.test(names)) return 'edit';
  const hasSampler = /KSampler|Sampler|SamplerCustom/i.test(types);
  const loadsImage = /\bLoadImage/i.test(types);
  if (loadsImage && /ControlNet/i.test(types)) return 'controlnet';
  if (loadsImage && hasSampler && /VAEEncode|StageC_VAEEncode|unCLIP|IPAdapter/i.test(types)) return 'img2img';
  if (loadsImage && !hasSampler && /Upscale/i.test(types)) return 'upscale';
  if (hasSampler) return 'txt2img';
  return 'unknown';
}

function comfyTrace(meta: ParsedMetadata): GeneratorTrace | undefined {
  const text = pngTexts(meta.pngText);
  const promptText = text['prompt'];
  const workflowText = text['workflow'];
  if (!promptText && !workflowText) return undefined;
  const fromPrompt = graphFromPrompt(parseJson(promptText));
  const fromWorkflow = graphFromWorkflow(parseJson(workflowText));
  const facts = fromPrompt ?? fromWorkflow;
  // A `prompt` chunk that is neither a ComfyUI graph nor accompanied by a workflow is
  // some other tool's plain-text prompt: still a generator hint, named generically.
  if (!facts) {
    return {
      generator: workflowText ? 'ComfyUI' : 'unknown generator (prompt text chunk)',
      tag: workflowText ? 'png:text:workflow' : 'png:text:prompt',
      value: clip(promptText ?? workflowText ?? '', 300),
    };
  }
  const mode = graphMode(facts);
  const uniq = (xs: string[]) => [...new Set(xs)];
  return {
    generator: 'ComfyUI',
    tag: fromPrompt ? 'png:text:prompt' : 'png:text:workflow',
    mode,
    models: uniq(facts.models),
    loras: uniq(facts.loras),
    prompt: facts.prompts[0] !== undefined ? clip(facts.prompts[0], 300) : undefined,
    detail: {
      chunks: ['prompt', 'workflow'].filter((k) => text[k] !== undefined),
      otherModels: uniq(facts.otherModels),
      nodeTypes: uniq(facts.nodeTypes).slice(0, 40),
      ...(facts.denoise.length ? { denoise: facts.denoise } : {}),
    },
  };
}

// ── Stable Diffusion WebUI `parameters` ─────────────────────────────────────────

export function parseA1111(text: string): GeneratorTrace | undefined {
  const lines = text.split(/\r?\n/);
  const settingsIdx = lines.findIndex((l) => /(^|,\s*)Steps:\s*\d+/.test(l) && /Sampler:|Seed:|CFG scale:/.test(l));
  if (settingsIdx < 0) return undefined;
  // Real settings lines are a few KB; the cap keeps the key/value regex cheap on hostile text.
  const settings = lines.slice(settingsIdx).join(', ').slice(0, 16 * 1024);
  const kv: Record<string, string> = {};
  for (const m of settings.matchAll(/([A-Za-z][\w ]*?):\s*("(?:[^"\\]|\\.)*"|[^,]*)/g)) kv[m[1]!.trim()] = m[2]!.trim();
  const promptLines = lines.slice(0, settingsIdx);
  const negIdx = promptLines.findIndex((l) => l.startsWith('Negative prompt:'));
  const prompt = (negIdx >= 0 ? promptLines.slice(0, negIdx) : promptLines).join('\n').trim();
  let mode = 'txt2img';
  if (kv['Mask blur'] !== undefined || kv['Inpaint area'] !== undefined || kv['Masked content'] !== undefined) mode = 'inpaint';
  else if (kv['Denoising strength'] !== undefined && kv['Hires upscale'] === undefined && kv['Hires steps'] === undefined) mode = 'img2img';
  const models = [kv['Model'], kv['Model hash'] ? `hash ${kv['Model hash']}` : undefined].filter((x): x is string => !!x);
  const loras = [...text.matchAll(/<lora:([^:>]+)/g)].map((m) => m[1]!);
  return {
    generator: /forge/i.test(kv['Version'] ?? '') ? 'Stable Diffusion WebUI Forge' : 'Stable Diffusion WebUI',
    tag: 'png:text:parameters',
    mode,
    models,
    loras: [...new Set(loras)],
    prompt: prompt ? clip(prompt, 300) : undefined,
    detail: Object.fromEntries(
      ['Steps', 'Sampler', 'CFG scale', 'Seed', 'Size', 'Denoising strength', 'Version'].filter((k) => kv[k] !== undefined).map((k) => [k, kv[k]]),
    ),
  };
}

function otherToolTraces(meta: ParsedMetadata): GeneratorTrace[] {
  const out: GeneratorTrace[] = [];
  const text = pngTexts(meta.pngText);
  if (text['parameters']) {
    const a = parseA1111(text['parameters']);
    const fooocus = /fooocus/i.test(text['parameters']) || text['fooocus_scheme'] !== undefined;
    if (fooocus) out.push({ generator: 'Fooocus', tag: 'png:text:parameters', value: clip(text['parameters'], 300) });
    else if (a) out.push(a);
    else out.push({ generator: 'Stable Diffusion WebUI (unparsed parameters)', tag: 'png:text:parameters', value: clip(text['parameters'], 300) });
  }
  for (const key of ['invokeai_metadata', 'invokeai_graph', 'sd-metadata', 'Dream']) {
    if (text[key] !== undefined) {
      out.push({ generator: 'InvokeAI', tag: `png:text:${key}`, value: clip(text[key]!, 300) });
      break;
    }
  }
  // NovelAI: Software "NovelAI", a Comment JSON with its sampler settings.
  const comment = parseJson(text['Comment']);
  if (comment && typeof comment === 'object' && 'uc' in comment && 'steps' in comment && !/novelai/i.test(text['Software'] ?? '')) {
    out.push({ generator: 'NovelAI', tag: 'png:text:Comment', value: clip(text['Comment']!, 300) });
  }
  // Midjourney writes the prompt and "Job ID: <uuid>" into the description. Free text
  // is only searched for that exact shape, never for bare names.
  const descriptions: TextSource[] = [
    ...Object.entries(text).filter(([k]) => /^(description|comment|title)$/i.test(k)).map(([k, v]) => ({ tag: `png:text:${k}`, value: v })),
    ...xmpTexts(meta.xmp, NS.dc, 'description').map((v) => ({ tag: 'xmp:dc:description', value: v })),
    ...(tagText(meta.tags, 'ImageDescription') ? [{ tag: 'exif:ImageDescription', value: tagText(meta.tags, 'ImageDescription')! }] : []),
  ];
  for (const d of descriptions) {
    if (MIDJOURNEY_JOB.test(d.value)) {
      out.push({ generator: 'Midjourney', tag: d.tag, value: clip(d.value, 300) });
      break;
    }
  }
  // A1111 writes `parameters` into EXIF UserComment for JPEG and WebP.
  const uc = userCommentText(meta.tags);
  if (uc) {
    const a = parseA1111(uc);
    if (a) out.push({ ...a, tag: 'exif:UserComment' });
  }
  return out;
}

// ── Signals ─────────────────────────────────────────────────────────────────────

const MODE_TEXT: Record<string, { en: string; zh: string }> = {
  txt2img: { en: 'text-to-image generation', zh: '文生图' },
  img2img: { en: 'image-to-image: an input picture was redrawn by the model', zh: '图生图：输入图片被模型重绘' },
  inpaint: { en: 'inpainting: a masked region of an input picture was repainted by the model', zh: '局部重绘（inpainting）：输入图片的遮罩区域被模型重新生成' },
  edit: { en: 'instruction-based AI editing of an input picture', zh: '基于指令的 AI 图片编辑' },
  controlnet: { en: 'generation guided by an input picture (ControlNet)', zh: '由输入图片引导的生成（ControlNet）' },
  upscale: { en: 'AI upscaling of an input picture', zh: '输入图片的 AI 放大' },
};

export function generatorSignals(generators: GeneratorTrace[], editors: EditorTrace[]): Signal[] {
  const out: Signal[] = [];
  if (generators.length) {
    // Structured traces (ComfyUI / WebUI) before bare names: they say the most.
    const main = [...generators].sort((a, b) => Number(!!b.mode) - Number(!!a.mode))[0]!;
    const names = [...new Set(generators.map((g) => g.generator))];
    const mode = main.mode && MODE_TEXT[main.mode];
    const model = main.models?.length ? main.models[0] : undefined;
    const en = [
      `Generator metadata found: ${names.join(', ')} (${main.tag})`,
      model ? `model ${model}` : '',
      mode ? mode.en : '',
    ].filter(Boolean).join('; ');
    const zh = [
      `发现 AI 生成工具的元数据：${names.join('、')}（${main.tag}）`,
      model ? `模型 ${model}` : '',
      mode ? mode.zh : '',
    ].filter(Boolean).join('；');
    const structured = !!main.mode || main.generator.startsWith('Stable Diffusion WebUI') || main.generator === 'ComfyUI';
    out.push(
      signal(
        'generator.metadata',
        'ai_generated',
        structured ? 0.95 : 0.9,
        structured ? 0.95 : 0.8,
        { en: `${en}.`, zh: `${zh}。` },
        {
          tags: [...new Set(generators.map((g) => g.tag))],
          generator: main.generator,
          ...(main.mode ? { mode: main.mode } : {}),
          ...(main.models?.length ? { models: main.models } : {}),
          ...(main.loras?.length ? { loras: main.loras } : {}),
          ...(main.prompt ? { prompt: main.prompt } : {}),
          generators: generators.map((g) => ({ ...g })),
          ...(editors.length ? { editors } : {}),
        },
        {
          en:
            main.mode === 'inpaint' || main.mode === 'img2img' || main.mode === 'edit'
              ? 'The file was written by an AI image tool that redrew part or all of an input picture; damage shown in it may have been generated.'
              : 'The file was written by an AI image generator: the picture is synthetic, not a photo of the delivered item.',
          zh:
            main.mode === 'inpaint' || main.mode === 'img2img' || main.mode === 'edit'
              ? '该文件由对输入图片进行局部或整体重绘的 AI 工具写出，图中的破损可能是生成的。'
              : '该文件由 AI 图像生成工具写出：图片是合成的，而不是所收商品的实拍照片。',
        },
      ),
    );
  }
  if (editors.length) {
    const names = [...new Set(editors.map((e) => e.name))];
    const namesZh = [...new Set(editors.map((e) => e.zh))];
    const score = Math.max(...editors.map((e) => e.score));
    out.push(
      signal(
        'generator.metadata',
        'suspicious',
        score,
        0.8,
        {
          en: `Edited with ${names.join(', ')}: ${editors.map((e) => `${e.tag} = "${e.value}"`).join('; ')}.`,
          zh: `经 ${namesZh.join('、')} 编辑过：${editors.map((e) => `${e.tag} = "${e.value}"`).join('；')}。`,
        },
        { tags: [...new Set(editors.map((e) => e.tag))], editor: names[0], editors },
        {
          en: 'The photo passed through editing software after it was taken. That alone is not fraud (people crop and brighten photos), but it means the pixels may have been changed: look closely at the damaged area.',
          zh: '照片拍摄后经过了编辑软件处理。这本身并不代表欺诈（人们常会裁剪、调亮照片），但意味着像素可能被改动过：请仔细查看破损区域。',
        },
      ),
    );
  }
  return out;
}

export function findGeneratorTraces(meta: ParsedMetadata, bytes?: Uint8Array): { generators: GeneratorTrace[]; editors: EditorTrace[] } {
  const fields = softwareFields(meta, bytes);
  const generators: GeneratorTrace[] = [];
  const comfy = comfyTrace(meta);
  if (comfy) generators.push(comfy);
  generators.push(...otherToolTraces(meta));
  generators.push(...findNamedGenerators(fields).filter((g) => !generators.some((x) => x.generator === g.generator)));
  return { generators, editors: findEditors(fields) };
}

export const generatorMetadataDetector: Detector = {
  id: 'generator.metadata',
  version: '1.0.0',
  async run(image: DecodedImage): Promise<Signal[]> {
    const meta = await image.metadata();
    const { generators, editors } = findGeneratorTraces(meta, image.format === 'jpeg' ? image.bytes : undefined);
    return generatorSignals(generators, editors);
  },
};
