// @ts-check
// The console's only way to the server: the /v1 API with the reviewer's key. Photos are
// fetched with the key too (an <img src> cannot carry it) and shown from blob: URLs.

const KEY_STORAGE = 'claimlens.reviewerKey';

export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function getKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

/** @param {string | null} key */
export function setKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // Storage disabled: the key lives as long as the page.
  }
  memoryKey = key;
  clearMediaCache();
}

/** @type {string | null} */
let memoryKey = null;

/**
 * Calls the API. JSON in and out; errors become ApiError with the server's code and message.
 * @param {string} path @param {{ method?: string, body?: unknown, key?: string, idempotencyKey?: string }} [o]
 */
export async function api(path, o = {}) {
  const key = o.key ?? getKey() ?? memoryKey;
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  if (key) headers.authorization = `Bearer ${key}`;
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  if (o.idempotencyKey) headers['idempotency-key'] = o.idempotencyKey;
  let res;
  try {
    res = await fetch(path, { method: o.method ?? 'GET', headers, body: o.body === undefined ? undefined : JSON.stringify(o.body), cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'network', e instanceof Error ? e.message : String(e));
  }
  const text = await res.text();
  /** @type {any} */
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!res.ok) {
    const err = body?.error;
    throw new ApiError(res.status, err?.code ?? `http_${res.status}`, err?.message ?? (text.slice(0, 200) || res.statusText));
  }
  return body;
}

/** @type {Map<string, Promise<string>>} */
const mediaCache = new Map();

/** A blob: URL for a stored photo (`url` as the API gives it, e.g. /v1/media/ID); cached per page. @param {string} url */
export function mediaUrl(url) {
  let p = mediaCache.get(url);
  if (!p) {
    p = (async () => {
      const key = getKey() ?? memoryKey;
      const res = await fetch(url, { headers: key ? { authorization: `Bearer ${key}` } : {} });
      if (!res.ok) throw new ApiError(res.status, `http_${res.status}`, `photo ${url}: ${res.status}`);
      return URL.createObjectURL(await res.blob());
    })();
    p.catch(() => mediaCache.delete(url));
    mediaCache.set(url, p);
  }
  return p;
}

function clearMediaCache() {
  for (const p of mediaCache.values()) p.then((u) => URL.revokeObjectURL(u)).catch(() => undefined);
  mediaCache.clear();
}
