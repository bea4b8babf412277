// @ts-check
// Pure helpers of the console: no DOM, no network, so Node tests can import them too.

/** Photo and signal verdicts from most to least serious. */
export const VERDICT_ORDER = ['tampered', 'ai_generated', 'suspicious', 'clean', 'info'];

/** @param {string | undefined | null} v */
function severity(v) {
  const i = VERDICT_ORDER.indexOf(v ?? '');
  return i < 0 ? VERDICT_ORDER.length : i;
}

/**
 * The most serious photo verdict of an analysis, or null when nothing was analysed yet.
 * @param {{ images?: { verdict?: string }[] } | null | undefined} analysis
 */
export function worstVerdict(analysis) {
  const verdicts = (analysis?.images ?? []).map((i) => i.verdict).filter((v) => typeof v === 'string');
  if (verdicts.length === 0) return null;
  return verdicts.sort((a, b) => severity(a) - severity(b))[0] ?? null;
}

/**
 * Signals in reading order: the most serious verdict first, then the strongest score.
 * @template {{ verdict: string, score: number }} S @param {S[]} signals @returns {S[]}
 */
export function sortSignals(signals) {
  return [...signals].sort((a, b) => severity(a.verdict) - severity(b.verdict) || b.score - a.score);
}

/** @param {number | null | undefined} risk */
export function riskLevel(risk) {
  if (typeof risk !== 'number' || !Number.isFinite(risk)) return 'unknown';
  return risk >= 0.6 ? 'high' : risk >= 0.2 ? 'medium' : 'low';
}

/** @param {number | null | undefined} x 0–1 as a whole percentage */
export function percent(x) {
  return typeof x === 'number' && Number.isFinite(x) ? `${Math.round(x * 100)}%` : '—';
}

/**
 * How long ago, shortest readable unit (min, h, d). Future times come back as '0 min'.
 * @param {string | null | undefined} iso @param {number} now @param {'zh-CN' | 'en'} lang
 */
export function formatAge(iso, now, lang) {
  if (!iso) return '—';
  const ms = Math.max(0, now - new Date(iso).getTime());
  if (!Number.isFinite(ms)) return '—';
  const min = Math.floor(ms / 60_000);
  const zh = lang === 'zh-CN';
  if (min < 60) return zh ? `${min} 分钟` : `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return zh ? `${h} 小时` : `${h} h`;
  const d = Math.floor(h / 24);
  return zh ? `${d} 天` : `${d} d`;
}

/**
 * Time left until a deadline ('in 47 h'), or null when it passed.
 * @param {string | null | undefined} iso @param {number} now @param {'zh-CN' | 'en'} lang
 */
export function formatTimeLeft(iso, now, lang) {
  if (!iso) return '—';
  const ms = new Date(iso).getTime() - now;
  if (!Number.isFinite(ms)) return '—';
  if (ms <= 0) return null;
  const min = Math.ceil(ms / 60_000);
  const zh = lang === 'zh-CN';
  if (min < 60) return zh ? `剩 ${min} 分钟` : `in ${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return zh ? `剩 ${h} 小时` : `in ${h} h`;
  return zh ? `剩 ${Math.floor(h / 24)} 天` : `in ${Math.floor(h / 24)} d`;
}

/** @param {number} amount @param {string} currency @param {'zh-CN' | 'en'} lang */
export function formatMoney(amount, currency, lang) {
  try {
    return new Intl.NumberFormat(lang, { style: 'currency', currency }).format(amount);
  } catch {
    return `${amount} ${currency}`;
  }
}

/** @param {string | null | undefined} iso @param {'zh-CN' | 'en'} lang */
export function formatDate(iso, lang) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  return d.toLocaleString(lang, { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
}

/**
 * Region boxes (pixels of the oriented photo the engine analysed) as percentages of that
 * photo, clipped to it: laid over the displayed photo they scale with it at any size.
 * Boxes that fall outside the photo or have no area are dropped.
 * @param {{ x: number, y: number, width: number, height: number, score?: number, label?: string }[] | undefined} regions
 * @param {number} width @param {number} height
 */
export function regionBoxes(regions, width, height) {
  if (!Array.isArray(regions) || !(width > 0) || !(height > 0)) return [];
  /** @type {{ left: number, top: number, width: number, height: number, score?: number, label?: string }[]} */
  const out = [];
  for (const r of regions) {
    if (![r?.x, r?.y, r?.width, r?.height].every((v) => typeof v === 'number' && Number.isFinite(v))) continue;
    const x0 = Math.max(0, Math.min(width, r.x));
    const y0 = Math.max(0, Math.min(height, r.y));
    const x1 = Math.max(0, Math.min(width, r.x + r.width));
    const y1 = Math.max(0, Math.min(height, r.y + r.height));
    if (x1 <= x0 || y1 <= y0) continue;
    out.push({
      left: (x0 / width) * 100,
      top: (y0 / height) * 100,
      width: ((x1 - x0) / width) * 100,
      height: ((y1 - y0) / height) * 100,
      ...(typeof r.score === 'number' ? { score: r.score } : {}),
      ...(typeof r.label === 'string' ? { label: r.label } : {}),
    });
  }
  return out;
}

/**
 * Every string inside a signal's evidence that names one of the given reference ids: the
 * references the detectors matched the photo against.
 * @param {{ evidence?: unknown }[]} signals @param {string[]} referenceIds
 */
export function matchedReferenceIds(signals, referenceIds) {
  const wanted = new Set(referenceIds);
  const found = new Set();
  /** @param {unknown} v @param {number} depth */
  const walk = (v, depth) => {
    if (depth > 6 || v === null || v === undefined) return;
    if (typeof v === 'string') {
      // a keyframe of a packing video is named `<media id>#keyframe-<n>`: it matches the video
      const id = v.replace(/#keyframe-\d+$/, '');
      if (wanted.has(id)) found.add(id);
    } else if (Array.isArray(v)) {
      for (const x of v) walk(x, depth + 1);
    } else if (typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) if (k !== 'heatmap') walk(x, depth + 1);
    }
  };
  for (const s of signals) walk(s.evidence, 0);
  return referenceIds.filter((id) => found.has(id));
}

/**
 * The analysis report of one evidence photo: by content hash, else by file name.
 * @template {{ sha256?: string, file?: string }} R
 * @param {{ images?: R[] } | null | undefined} analysis @param {{ sha256: string, filename?: string, id: string }} media
 * @returns {R | null}
 */
export function reportForMedia(analysis, media) {
  const images = analysis?.images ?? [];
  const name = media.filename || media.id;
  // a video's report is that of its riskiest keyframe, named `<file>#keyframe-<n>`
  return (
    images.find((r) => r.sha256 && r.sha256 === media.sha256) ??
    images.find((r) => r.file === name) ??
    images.find((r) => typeof r.file === 'string' && r.file.startsWith(`${name}#keyframe-`)) ??
    null
  );
}

/** The merged region list and heatmap of a photo's signals (first heatmap wins). @param {{ evidence?: any }[]} signals */
export function overlayOf(signals) {
  const regions = [];
  /** @type {{ width: number, height: number, mime: string, data: string } | null} */
  let heatmap = null;
  for (const s of signals) {
    for (const r of s.evidence?.regions ?? []) regions.push(r);
    if (!heatmap && s.evidence?.heatmap?.data) heatmap = s.evidence.heatmap;
  }
  return { regions, heatmap };
}

/** A fresh Idempotency-Key; crypto.getRandomValues works outside secure contexts too. */
export function newIdempotencyKey() {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  return 'console-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** Media formats stored for videos (see src/forensics/video-intake.ts). */
const VIDEO_FORMATS = new Set(['mp4', 'mov', '3gp', 'webm', 'mkv', 'avi']);

/** Whether a stored media item is a video. @param {{ format?: string | null } | null | undefined} m */
export function isVideo(m) {
  return VIDEO_FORMATS.has(m?.format ?? '');
}
