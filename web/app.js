// @ts-check
// The reviewer console: key prompt, review queue and claim page. Plain ES modules, no
// framework; every piece of text from the server goes in through textContent, never HTML.

import { api, ApiError, getKey, mediaUrl, setKey } from './api.js';
import {
  formatAge,
  formatDate,
  formatMoney,
  formatTimeLeft,
  isVideo,
  matchedReferenceIds,
  newIdempotencyKey,
  overlayOf,
  percent,
  regionBoxes,
  reportForMedia,
  riskLevel,
  sortSignals,
} from './format.js';
import { defaultLang, localized, translate } from './i18n.js';

/** @typedef {import('./i18n.js').Lang} Lang */

const LANG_STORAGE = 'claimlens.lang';
const PHOTO_MAX_HEIGHT = 380;
const DECIDABLE = ['in_review', 'escalated'];
const DECISIONS = /** @type {const} */ (['approve', 'reject', 'request_more_evidence', 'escalate']);

/** @type {Lang} */
let lang = pickLang();
/** @type {{ keyId: string, tenantId: string, role: string, merchantId: string | null } | null} */
let me = null;

const main = /** @type {HTMLElement} */ (document.getElementById('main'));
const zoomDialog = /** @type {HTMLDialogElement} */ (document.getElementById('zoom'));

function pickLang() {
  try {
    const saved = localStorage.getItem(LANG_STORAGE);
    if (saved === 'en' || saved === 'zh-CN') return saved;
  } catch {
    // no storage
  }
  return defaultLang(navigator.languages?.length ? navigator.languages : [navigator.language]);
}

/** @param {string} key @param {Record<string, string | number>} [vars] */
const t = (key, vars) => translate(lang, key, vars);

/**
 * Builds an element. Children that are strings become text nodes (never HTML).
 * @param {string} tag @param {Record<string, any> | null} [attrs] @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElement}
 */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** Replaces an element's children, skipping the absent ones. @param {Element} el @param {...(Node | string | null | undefined | false)} children */
function fill(el, ...children) {
  el.replaceChildren(...children.filter((c) => c !== null && c !== undefined && c !== false).map((c) => /** @type {Node | string} */ (c)));
}

function verdictBadge(/** @type {string | null | undefined} */ verdict) {
  const v = verdict ?? 'pending';
  return h('span', { class: `badge verdict-${v}`, text: t(`verdict.${v}`) });
}

function stateBadge(/** @type {string} */ state) {
  return h('span', { class: `badge state state-${state}`, text: t(`state.${state}`) });
}

function riskBadge(/** @type {number | null | undefined} */ risk) {
  return h('span', { class: `badge risk-${riskLevel(risk)}`, text: percent(risk) });
}

function errorText(/** @type {unknown} */ e) {
  if (e instanceof ApiError) return `${e.message} (${e.code})`;
  return e instanceof Error ? e.message : String(e);
}

function showError(/** @type {unknown} */ e) {
  if (e instanceof ApiError && e.status === 401) {
    setKey(null);
    me = null;
    renderHeader();
    return showKeyPrompt(t('keyBad', { msg: errorText(e) }));
  }
  main.replaceChildren(h('p', { class: 'error', role: 'alert', text: t('error', { msg: errorText(e) }) }));
}

// ---- header --------------------------------------------------------------------------------

function renderHeader() {
  document.documentElement.lang = lang;
  document.title = t('title');
  const header = /** @type {HTMLElement} */ (document.getElementById('header'));
  const langSelect = h(
    'select',
    {
      id: 'lang',
      onchange: (/** @type {Event} */ ev) => {
        lang = /** @type {Lang} */ (/** @type {HTMLSelectElement} */ (ev.target).value);
        try {
          localStorage.setItem(LANG_STORAGE, lang);
        } catch {
          // no storage
        }
        renderHeader();
        route();
      },
    },
    h('option', { value: 'zh-CN', text: '中文' }),
    h('option', { value: 'en', text: 'English' }),
  );
  /** @type {HTMLSelectElement} */ (langSelect).value = lang;
  fill(
    header,
    h('a', { class: 'skip', href: '#main', onclick: (/** @type {Event} */ ev) => (ev.preventDefault(), main.focus()), text: t('skip') }),
    h('span', { class: 'brand', text: t('title') }),
    me ? h('nav', { 'aria-label': t('queue') }, h('a', { href: '#/queue', text: t('queue') })) : null,
    h('span', { class: 'spacer' }),
    me ? h('span', { class: 'who', text: t('signedInAs', { role: me.role, tenant: me.tenantId }) }) : null,
    h('label', { for: 'lang', class: 'lang-label', text: t('language') }),
    langSelect,
    me
      ? h('button', {
          type: 'button',
          class: 'secondary',
          onclick: () => {
            setKey(null);
            me = null;
            renderHeader();
            location.hash = '#/queue';
            route();
          },
          text: t('signOut'),
        })
      : null,
  );
}

// ---- key prompt ----------------------------------------------------------------------------

function showKeyPrompt(/** @type {string} */ message = '') {
  const input = /** @type {HTMLInputElement} */ (h('input', { id: 'key', name: 'key', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true, 'aria-describedby': 'key-help key-error' }));
  const err = h('p', { id: 'key-error', class: 'error', role: 'alert', text: message });
  const form = h(
    'form',
    {
      class: 'key-form',
      onsubmit: async (/** @type {Event} */ ev) => {
        ev.preventDefault();
        const key = input.value.trim();
        if (!key) return input.focus();
        err.textContent = t('loading');
        try {
          const who = await api('/v1/me', { key });
          setKey(key);
          me = who;
          renderHeader();
          if (who.role === 'merchant') {
            err.textContent = t('keyMerchant');
            return;
          }
          if (!location.hash.startsWith('#/claims/')) location.hash = '#/queue';
          route();
        } catch (e) {
          err.textContent = t('keyBad', { msg: errorText(e) });
          input.select();
        }
      },
    },
    h('h1', { tabindex: '-1', text: t('keyTitle') }),
    h('label', { for: 'key', text: t('keyLabel') }),
    input,
    h('p', { id: 'key-help', class: 'help', text: t('keyHelp') }),
    h('button', { type: 'submit', text: t('keySubmit') }),
    err,
  );
  main.replaceChildren(form);
  input.focus();
}

// ---- queue ---------------------------------------------------------------------------------

let queueState = '';

async function showQueue() {
  const heading = h('h1', { tabindex: '-1', text: t('queue') });
  const select = /** @type {HTMLSelectElement} */ (
    h(
      'select',
      { id: 'state-filter', onchange: () => ((queueState = select.value), showQueue()) },
      h('option', { value: '', text: t('allWaiting') }),
      ...['in_review', 'escalated', 'awaiting_merchant'].map((s) => h('option', { value: s, text: t(`state.${s}`) })),
    )
  );
  select.value = queueState;
  const tbody = h('tbody');
  const status = h('p', { role: 'status', class: 'muted', text: t('loading') });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true, text: t('loadMore') });
  const table = h(
    'table',
    { class: 'queue' },
    h('caption', { text: t('queueCaption') }),
    h(
      'thead',
      null,
      h('tr', null, ...['colClaim', 'colAmount', 'colAge', 'colRisk', 'colVerdict', 'colState', 'colDeadline'].map((k) => h('th', { scope: 'col', text: t(k) }))),
    ),
    tbody,
  );
  main.replaceChildren(
    heading,
    h(
      'div',
      { class: 'toolbar' },
      h('label', { for: 'state-filter', text: t('stateFilter') }),
      select,
      h('button', { type: 'button', class: 'secondary', onclick: () => showQueue(), text: t('refresh') }),
    ),
    table,
    status,
    more,
  );
  heading.focus();

  /** @param {string | null} cursor */
  const load = async (cursor) => {
    const q = new URLSearchParams({ limit: '50' });
    if (queueState) q.set('state', queueState);
    if (cursor) q.set('cursor', cursor);
    const page = await api(`/v1/review-queue?${q}`);
    const now = Date.now();
    for (const c of page.items) tbody.append(queueRow(c, now));
    status.textContent = tbody.children.length === 0 ? t('empty') : '';
    more.hidden = !page.nextCursor;
    more.onclick = () => load(page.nextCursor).catch(showError);
  };
  await load(null);
}

/** @param {any} c @param {number} now */
function queueRow(c, now) {
  const left = formatTimeLeft(c.deadlines?.merchantResponse, now, lang);
  return h(
    'tr',
    { 'data-claim': c.id },
    h('th', { scope: 'row' }, h('a', { href: `#/claims/${encodeURIComponent(c.id)}`, text: c.id })),
    h('td', { class: 'num', text: formatMoney(c.amount, c.currency, lang) }),
    h('td', { title: formatDate(c.createdAt, lang), text: formatAge(c.createdAt, now, lang) }),
    h('td', null, riskBadge(c.risk)),
    h('td', { class: 'verdict-cell' }, verdictBadge(c.verdict ?? null)),
    h('td', null, stateBadge(c.state)),
    h(
      'td',
      { title: formatDate(c.deadlines?.merchantResponse, lang) },
      c.deadlines?.merchantResponse ? (left ?? h('span', { class: 'badge overdue', text: t('overdue') })) : t('none'),
    ),
  );
}

// ---- claim page ----------------------------------------------------------------------------

/** @param {string} id @param {string} [flash] a message to show (after a decision) */
async function showClaim(id, flash) {
  main.replaceChildren(h('p', { role: 'status', text: t('loading') }));
  let claim;
  try {
    claim = await api(`/v1/claims/${encodeURIComponent(id)}`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      main.replaceChildren(h('p', null, h('a', { href: '#/queue', text: t('backToQueue') })), h('p', { class: 'error', role: 'alert', text: t('notFound') }));
      return;
    }
    throw e;
  }
  const [order, audit, skuRefs] = await Promise.all([
    api(`/v1/orders/${encodeURIComponent(claim.orderId)}`).catch(() => null),
    api(`/v1/claims/${encodeURIComponent(id)}/audit`).catch((e) => ({ error: e })),
    api(`/v1/skus/${encodeURIComponent(claim.sku)}/references?merchantId=${encodeURIComponent(claim.merchantId)}`).catch(() => null),
  ]);
  /** @type {any[]} */
  const references = [...(skuRefs?.references ?? []), ...(order?.references ?? [])];

  const heading = h('h1', { tabindex: '-1' }, t('claim', { id: claim.id }), ' ', stateBadge(claim.state));
  const photos = photoPanel(claim, references);
  main.replaceChildren(
    h('p', null, h('a', { href: '#/queue', text: t('backToQueue') })),
    heading,
    h('p', { class: 'notice', role: 'note', text: t('notice') }),
    h(
      'div',
      { class: 'claim-layout' },
      h('div', { class: 'claim-main' }, photos, auditSection(audit)),
      h('aside', { class: 'claim-side', 'aria-label': t('decide') }, decisionSection(claim, flash), factsSection(claim), orderSection(order, claim), policySection(claim), responsesSection(claim)),
    ),
  );
  heading.focus();
}

/**
 * The claim photo beside the reference, with the overlay toggle and the signals of the
 * photo shown. Switching photo or reference re-renders only this panel.
 * @param {any} claim @param {any[]} references
 */
function photoPanel(claim, references) {
  const section = h('section', { class: 'photos', 'aria-labelledby': 'photos-h' });
  const evidence = /** @type {any[]} */ (claim.evidence ?? []);
  const reports = /** @type {any[]} */ (evidence.map((m) => reportForMedia(claim.analysis, m)));
  // Start on the photo the engine found most worrying.
  let current = 0;
  reports.forEach((r, i) => {
    if ((r?.risk ?? -1) > (reports[current]?.risk ?? -1)) current = i;
  });
  let showOverlay = false;
  let opacity = 0.6;
  /** @type {string | null} */
  let refChoice = null;

  const render = () => {
    const media = evidence[current];
    const report = reports[current];
    const signals = /** @type {any[]} */ (sortSignals(report?.signals ?? []));
    const overlay = overlayOf(signals);
    const hasOverlay = Boolean(overlay.heatmap || overlay.regions.length);
    const matched = matchedReferenceIds(signals, references.map((r) => r.id));
    const ref = references.find((r) => r.id === refChoice) ?? references.find((r) => matched.includes(r.id)) ?? references[0] ?? null;
    const compare = h('div', { class: 'compare' });
    const claimFigure = isVideo(media)
      ? videoFigure(`${t('claimPhoto')} · ${media.filename}${report?.file ? ` (${t('analysedFrame')}: ${report.file.replace(/^.*#/, '')})` : ''}`, media.url, 'claim-photo')
      : photoFigure(
          media ? `${t('claimPhoto')} · ${media.filename}` : t('claimPhoto'),
          media?.url,
          showOverlay && hasOverlay ? { ...overlay, width: report?.width ?? media.width, height: report?.height ?? media.height, opacity } : null,
          'claim-photo',
        );
    const refCaption = ref ? `${t('reference')} · ${ref.filename}${matched.includes(ref.id) ? ` (${t('matched')})` : ''}` : '';
    const refFigure = ref
      ? isVideo(ref)
        ? videoFigure(refCaption, ref.url, 'reference-photo')
        : photoFigure(refCaption, ref.url, null, 'reference-photo')
      : h('figure', { class: 'photo-fig reference-photo empty' }, h('figcaption', { text: t('reference') }), h('p', { class: 'muted', text: t('noReference') }));
    compare.append(claimFigure, refFigure);

    const overlayToggle = /** @type {HTMLInputElement} */ (
      h('input', {
        type: 'checkbox',
        id: 'overlay-toggle',
        checked: showOverlay && hasOverlay,
        disabled: !hasOverlay,
        onchange: () => ((showOverlay = overlayToggle.checked), render(), /** @type {HTMLElement} */ (section.querySelector('#overlay-toggle'))?.focus()),
      })
    );
    const opacityInput = /** @type {HTMLInputElement} */ (
      h('input', {
        type: 'range',
        id: 'overlay-opacity',
        min: '0.1',
        max: '1',
        step: '0.1',
        value: String(opacity),
        disabled: !(showOverlay && overlay.heatmap),
        oninput: () => {
          opacity = Number(opacityInput.value);
          section.querySelectorAll('.heatmap').forEach((el) => (/** @type {HTMLElement} */ (el).style.opacity = String(opacity)));
        },
      })
    );
    const controls = h(
      'div',
      { class: 'toolbar' },
      h('span', { class: 'check' }, overlayToggle, h('label', { for: 'overlay-toggle', text: hasOverlay ? t('overlay') : t('overlayNone') })),
      overlay.heatmap ? h('label', { for: 'overlay-opacity', text: t('opacity') }) : null,
      overlay.heatmap ? opacityInput : null,
      h('span', { class: 'muted', text: t('zoomHint') }),
    );

    const photoChooser =
      evidence.length > 1
        ? h(
            'div',
            { class: 'chooser', role: 'group', 'aria-label': t('claimPhoto') },
            ...evidence.map((m, i) =>
              h(
                'button',
                { type: 'button', class: i === current ? 'chip active' : 'chip', 'aria-pressed': String(i === current), onclick: () => ((current = i), (refChoice = null), render()) },
                t('photoN', { n: i + 1, round: m.round ?? 1 }),
                ' ',
                verdictBadge(reports[i]?.verdict ?? (reports[i]?.error ? 'suspicious' : null)),
              ),
            ),
          )
        : null;
    const refChooser =
      references.length > 1
        ? h(
            'div',
            { class: 'chooser', role: 'group', 'aria-label': t('reference') },
            ...references.map((r, i) =>
              h('button', {
                type: 'button',
                class: r.id === ref?.id ? 'chip active' : 'chip',
                'aria-pressed': String(r.id === ref?.id),
                onclick: () => ((refChoice = r.id), render()),
                text: t('referenceN', { n: i + 1, kind: t(`kind.${r.kind}`) }) + (matched.includes(r.id) ? ' ✓' : ''),
              }),
            ),
          )
        : null;

    fill(section, h('h2', { id: 'photos-h', text: t('photos') }), photoChooser, refChooser, controls, compare, signalsSection(report, claim));
    fitHeights(compare);
  };
  render();
  return section;
}

/**
 * A figure with a photo button (click to zoom) and, when given, the heatmap stretched over
 * the photo and the region boxes placed in percent of the analysed photo's size.
 * @param {string} caption @param {string | undefined} url
 * @param {{ heatmap: any, regions: any[], width: number, height: number, opacity: number } | null} overlay
 * @param {string} cls
 */
function photoFigure(caption, url, overlay, cls) {
  const img = /** @type {HTMLImageElement} */ (h('img', { class: 'photo', alt: caption }));
  const frame = h('span', { class: 'frame' }, img);
  if (overlay) addOverlay(frame, overlay);
  const button = h('button', { type: 'button', class: 'photo-button', 'aria-label': `${caption} — ${t('zoomHint')}`, onclick: () => zoom(img.src, caption, overlay) }, frame);
  if (url) {
    mediaUrl(url)
      .then((src) => {
        img.src = src;
      })
      .catch((e) => frame.replaceChildren(h('span', { class: 'error', text: errorText(e) })));
  }
  return h('figure', { class: `photo-fig ${cls}` }, button, h('figcaption', { text: caption }));
}

/**
 * A video (a packing video, a video of the damage) with the browser's controls; the analysis
 * looked at its keyframes, so no overlay is laid over it.
 * @param {string} caption @param {string} url @param {string} cls
 */
function videoFigure(caption, url, cls) {
  const video = /** @type {HTMLVideoElement} */ (h('video', { class: 'photo video', controls: true, preload: 'metadata', 'aria-label': caption }));
  const frame = h('span', { class: 'frame' }, video);
  mediaUrl(url)
    .then((src) => {
      video.src = src;
    })
    .catch((e) => frame.replaceChildren(h('span', { class: 'error', text: errorText(e) })));
  return h('figure', { class: `photo-fig ${cls}` }, frame, h('figcaption', { text: caption }));
}

/** @param {HTMLElement} frame @param {{ heatmap: any, regions: any[], width: number, height: number, opacity: number }} overlay */
function addOverlay(frame, overlay) {
  if (overlay.heatmap) {
    // The heatmap is greyscale (brighter = stronger): used as a luminance mask over a red
    // layer, it tints the strong places and leaves the rest of the photo readable.
    const url = `url("data:${overlay.heatmap.mime || 'image/png'};base64,${overlay.heatmap.data}")`;
    frame.append(h('span', { class: 'heatmap', 'aria-hidden': 'true', style: { opacity: String(overlay.opacity), maskImage: url, webkitMaskImage: url } }));
  }
  for (const b of regionBoxes(overlay.regions, overlay.width, overlay.height)) {
    frame.append(
      h('span', {
        class: 'region',
        title: b.label ?? (b.score !== undefined ? percent(b.score) : ''),
        style: { left: `${b.left}%`, top: `${b.top}%`, width: `${b.width}%`, height: `${b.height}%` },
      }),
    );
  }
}

/** Gives the photos of a comparison the same height, as tall as fits their columns. @param {HTMLElement} compare */
function fitHeights(compare) {
  const fit = () => {
    const imgs = /** @type {HTMLImageElement[]} */ ([...compare.querySelectorAll('img.photo')]).filter((i) => i.naturalWidth > 0);
    if (imgs.length === 0) return;
    let height = PHOTO_MAX_HEIGHT;
    for (const i of imgs) {
      const col = /** @type {HTMLElement} */ (i.closest('figure')).clientWidth - 4;
      height = Math.min(height, (col * i.naturalHeight) / i.naturalWidth);
    }
    for (const i of imgs) i.style.height = `${Math.floor(height)}px`;
  };
  compare.querySelectorAll('img.photo').forEach((i) => i.addEventListener('load', fit));
  window.addEventListener('resize', fit);
}

/** @param {string} src @param {string} caption @param {any} overlay */
function zoom(src, caption, overlay) {
  if (!src) return;
  const img = h('img', { class: 'photo zoomed', src, alt: caption });
  const frame = h('span', { class: 'frame' }, img);
  if (overlay) addOverlay(frame, overlay);
  const close = h('button', { type: 'button', class: 'secondary', onclick: () => zoomDialog.close(), text: t('close') });
  zoomDialog.setAttribute('aria-label', `${t('zoomed')}: ${caption}`);
  zoomDialog.replaceChildren(h('div', { class: 'zoom-bar' }, h('span', { text: caption }), close), h('div', { class: 'zoom-body', onclick: () => frame.classList.toggle('actual') }, frame));
  zoomDialog.showModal();
  close.focus();
}

/** @param {any} report @param {any} claim */
function signalsSection(report, claim) {
  const section = h('section', { class: 'signals', 'aria-labelledby': 'signals-h' }, h('h3', { id: 'signals-h', text: t('signals') }));
  if (!report) {
    section.append(h('p', { class: 'muted', text: t('notAnalysed') }));
    return section;
  }
  if (report.error) section.append(h('p', { class: 'error', text: t('analysisError', { msg: `${report.error.message} (${report.error.code})` }) }));
  if (report.verdict) section.append(h('p', { class: 'image-verdict' }, t('imageVerdict', { verdict: t(`verdict.${report.verdict}`), risk: percent(report.risk) }), ' ', verdictBadge(report.verdict)));
  const signals = /** @type {any[]} */ (sortSignals(report.signals ?? []));
  if (signals.length === 0 && !report.error) section.append(h('p', { class: 'muted', text: t('noSignals') }));
  const list = h('ul', { class: 'signal-list' });
  for (const s of signals) {
    const regions = s.evidence?.regions?.length ?? 0;
    list.append(
      h(
        'li',
        { class: `signal verdict-${s.verdict}`, 'data-signal': s.id },
        h(
          'div',
          { class: 'signal-head' },
          verdictBadge(s.verdict),
          h('code', { text: s.id }),
          h('span', { class: 'muted', text: `${t('score')} ${percent(s.score)} · ${t('confidence')} ${percent(s.confidence)}` }),
          s.evidence?.heatmap ? h('span', { class: 'tag', text: t('hasHeatmap') }) : null,
          regions ? h('span', { class: 'tag', text: t('regionsOnPhoto', { n: regions }) }) : null,
        ),
        h('p', { class: 'summary', text: localized(lang, s.summary) }),
        s.why ? h('p', { class: 'why' }, h('strong', { text: `${t('why')}: ` }), localized(lang, s.why)) : null,
      ),
    );
  }
  section.append(list);
  for (const p of claim.analysis?.newEvidenceProblems ?? []) section.append(h('p', { class: 'error', text: p }));
  return section;
}

/** @param {any} claim @param {string} [flash] */
function decisionSection(claim, flash) {
  const open = DECIDABLE.includes(claim.state);
  const reason = /** @type {HTMLTextAreaElement} */ (h('textarea', { id: 'reason', name: 'reason', rows: '3', required: true, disabled: !open, 'aria-describedby': 'decision-msg' }));
  const msg = h('p', { id: 'decision-msg', role: 'status', class: flash ? 'ok' : 'muted', text: flash ?? (open ? '' : t('decisionsClosed', { state: t(`state.${claim.state}`) })) });
  /** Same decision and reason → same Idempotency-Key, so a retry after a lost answer is not a second decision. */
  let pending = { fingerprint: '', key: '' };
  const buttons = DECISIONS.map((d) =>
    /** @type {HTMLButtonElement} */ (
      h('button', {
        type: 'button',
        class: `decide decide-${d}`,
        'data-decision': d,
        disabled: !open,
        text: t(d),
        onclick: async () => {
          const why = reason.value.trim();
          if (!why) {
            msg.className = 'error';
            msg.setAttribute('role', 'alert');
            msg.textContent = t('reasonMissing');
            reason.focus();
            return;
          }
          const fingerprint = JSON.stringify([d, why]);
          if (pending.fingerprint !== fingerprint) pending = { fingerprint, key: newIdempotencyKey() };
          buttons.forEach((b) => (b.disabled = true));
          msg.className = 'muted';
          msg.textContent = t('loading');
          try {
            const r = await api(`/v1/claims/${encodeURIComponent(claim.id)}/decisions`, { method: 'POST', body: { decision: d, reason: why }, idempotencyKey: pending.key });
            await showClaim(claim.id, t('decided', { decision: t(`decision.${r.decision}`), state: t(`state.${r.state}`) }));
          } catch (e) {
            buttons.forEach((b) => (b.disabled = false));
            msg.className = 'error';
            msg.setAttribute('role', 'alert');
            msg.textContent = t('decisionFailed', { msg: errorText(e) });
          }
        },
      })
    ),
  );
  const decisions = claim.decisions ?? [];
  return h(
    'section',
    { class: 'decision', 'aria-labelledby': 'decision-h' },
    h('h2', { id: 'decision-h', text: t('decide') }),
    h('label', { for: 'reason', text: t('reason') }),
    reason,
    h('div', { class: 'decision-buttons' }, ...buttons),
    msg,
    decisions.length
      ? h(
          'ul',
          { class: 'plain' },
          ...decisions.map((/** @type {any} */ d) => h('li', null, h('strong', { text: t(`decision.${d.decision}`) }), ` · ${formatDate(d.createdAt, lang)} · ${d.actor}: `, d.reason)),
        )
      : null,
  );
}

/** @param {[string, Node | string | null | undefined][]} rows */
function facts(rows) {
  return h('dl', { class: 'facts' }, ...rows.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', null, v ?? t('none'))]));
}

/** @param {any} claim */
function factsSection(claim) {
  return h(
    'section',
    { 'aria-labelledby': 'facts-h' },
    h('h2', { id: 'facts-h', text: t('claimFacts') }),
    facts([
      [t('state'), stateBadge(claim.state)],
      [t('type'), t(`type.${claim.type}`)],
      [t('amount'), formatMoney(claim.amount, claim.currency, lang)],
      [t('buyerReason'), claim.reason],
      [t('submitted'), formatDate(claim.createdAt, lang)],
      [t('round'), String(claim.round ?? 1)],
      [t('colDeadline'), claim.deadlines?.merchantResponse ? `${formatDate(claim.deadlines.merchantResponse, lang)} (${formatTimeLeft(claim.deadlines.merchantResponse, Date.now(), lang) ?? t('overdue')})` : null],
      [t('colRisk'), riskBadge(claim.analysis?.risk)],
    ]),
    claim.evidenceRequest ? h('p', { class: 'muted', text: `${t('evidenceRequest', { code: claim.evidenceRequest.code })} — ${localized(lang, { en: claim.evidenceRequest.instructions?.en, zh: claim.evidenceRequest.instructions?.zh })}` }) : null,
  );
}

/** @param {any} order @param {any} claim */
function orderSection(order, claim) {
  const o = order ?? { id: claim.orderId, buyerId: claim.buyerId, merchantId: claim.merchantId, sku: claim.sku };
  return h(
    'section',
    { 'aria-labelledby': 'order-h' },
    h('h2', { id: 'order-h', text: t('order') }),
    facts([
      [t('orderId'), o.id],
      [t('buyer'), o.buyerId],
      [t('merchant'), o.merchantId],
      [t('sku'), o.sku],
      [t('orderAmount'), typeof o.amount === 'number' ? formatMoney(o.amount, o.currency, lang) : null],
      [t('delivered'), o.deliveredAt ? formatDate(o.deliveredAt, lang) : null],
      [t('shipping'), o.shipping ? JSON.stringify(o.shipping) : null],
    ]),
  );
}

/** @param {any} claim */
function policySection(claim) {
  const p = claim.policy;
  if (!p) return null;
  return h(
    'section',
    { 'aria-labelledby': 'policy-h' },
    h('h2', { id: 'policy-h', text: t('policy') }),
    h('p', null, h('strong', { text: `${t('policyOutcome')}: ` }), t(`outcome.${p.outcome}`)),
    h('ul', { class: 'plain' }, ...(p.reasons ?? []).map((/** @type {string} */ r) => h('li', { text: r }))),
  );
}

/** @param {any} claim */
function responsesSection(claim) {
  const responses = claim.responses ?? [];
  return h(
    'section',
    { 'aria-labelledby': 'responses-h' },
    h('h2', { id: 'responses-h', text: t('responses') }),
    responses.length === 0
      ? h('p', { class: 'muted', text: claim.deadlines?.merchantResponse ? `${t('noResponses')} ${t('responseDue', { when: formatDate(claim.deadlines.merchantResponse, lang) })}` : t('noResponses') })
      : h(
          'ul',
          { class: 'plain responses' },
          ...responses.map((/** @type {any} */ r) =>
            h(
              'li',
              { class: 'response' },
              h('p', { class: 'muted', text: `${formatDate(r.createdAt, lang)} · ${r.merchantId}` }),
              h('p', { class: 'response-text', text: r.text }),
              r.evidence?.length
                ? h('div', { class: 'thumbs' }, ...r.evidence.map((/** @type {any} */ m) => thumb(m)))
                : null,
            ),
          ),
        ),
  );
}

/** A small photo that zooms on click. @param {any} m */
function thumb(m) {
  if (isVideo(m)) {
    const video = /** @type {HTMLVideoElement} */ (h('video', { class: 'thumb video', controls: true, preload: 'metadata', 'aria-label': m.filename }));
    mediaUrl(m.url).then((src) => (video.src = src)).catch(() => video.setAttribute('aria-label', `${m.filename} (!)`));
    return video;
  }
  const img = /** @type {HTMLImageElement} */ (h('img', { class: 'thumb', alt: m.filename }));
  mediaUrl(m.url).then((src) => (img.src = src)).catch(() => (img.alt = `${m.filename} (!)`));
  return h('button', { type: 'button', class: 'photo-button', 'aria-label': `${m.filename} — ${t('zoomHint')}`, onclick: () => zoom(img.src, m.filename, null) }, img);
}

/** @param {any} audit */
function auditSection(audit) {
  const section = h('section', { class: 'audit', 'aria-labelledby': 'audit-h' }, h('h2', { id: 'audit-h', text: t('audit') }));
  if (audit?.error) {
    section.append(h('p', { class: 'error', text: errorText(audit.error) }));
    return section;
  }
  const rows = (audit?.entries ?? []).map((/** @type {any} */ e) =>
    h(
      'tr',
      null,
      h('td', { text: formatDate(e.at, lang) }),
      h('td', { text: e.actor }),
      h('td', null, h('code', { text: e.action })),
      h('td', { text: e.fromState || e.toState ? `${e.fromState ? t(`state.${e.fromState}`) : '∅'} → ${e.toState ? t(`state.${e.toState}`) : '∅'}` : '' }),
      h('td', { class: 'detail', text: auditDetail(e.data) }),
    ),
  );
  section.append(
    h(
      'table',
      { class: 'audit-table' },
      h('thead', null, h('tr', null, ...['auditAt', 'auditActor', 'auditAction', 'auditStates', 'auditDetail'].map((k) => h('th', { scope: 'col', text: t(k) })))),
      h('tbody', null, ...rows),
    ),
  );
  return section;
}

/** One line of an audit entry's data: the reason when there is one, else compact JSON. @param {any} data */
function auditDetail(data) {
  if (!data || typeof data !== 'object') return '';
  if (typeof data.reason === 'string') return data.reason;
  const s = JSON.stringify(data);
  return s.length > 160 ? s.slice(0, 157) + '…' : s;
}

// ---- routing -------------------------------------------------------------------------------

async function route() {
  if (!getKey()) return showKeyPrompt();
  try {
    if (!me) {
      me = await api('/v1/me');
      renderHeader();
    }
    const m = /^#\/claims\/([^/?#]+)/.exec(location.hash);
    if (m) await showClaim(decodeURIComponent(m[1] ?? ''));
    else await showQueue();
  } catch (e) {
    showError(e);
  }
}

window.addEventListener('hashchange', () => route());
renderHeader();
route();
