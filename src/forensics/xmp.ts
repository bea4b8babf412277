// A small, tolerant reader for the few XMP properties the metadata detectors need
// (TC260:AIGC, Iptc4xmpExt:DigitalSourceType, xmp:CreatorTool, xmpMM:History …).
// XMP is RDF/XML, but writers differ (element vs attribute form, rdf:Seq/Bag/Alt lists,
// rdf:resource, odd prefixes), and forged or damaged packets are exactly what we look
// at, so a strict XML parser would fail where a reviewer still wants an answer. We
// resolve properties by namespace URI and local name, never by prefix alone.

export const NS = {
  tc260: 'http://www.tc260.org.cn/ns/AIGC/1.0/',
  iptcExt: 'http://iptc.org/std/Iptc4xmpExt/2008-02-29/',
  xmp: 'http://ns.adobe.com/xap/1.0/',
  xmpMM: 'http://ns.adobe.com/xap/1.0/mm/',
  stEvt: 'http://ns.adobe.com/xap/1.0/sType/ResourceEvent#',
  photoshop: 'http://ns.adobe.com/photoshop/1.0/',
  tiff: 'http://ns.adobe.com/tiff/1.0/',
  exif: 'http://ns.adobe.com/exif/1.0/',
  dc: 'http://purl.org/dc/elements/1.1/',
} as const;

export interface XmpProperty {
  /** Namespace URI the prefix was bound to ('' when the prefix is undeclared). */
  ns: string;
  prefix: string;
  name: string;
  /** Text value(s); several for rdf:Seq/Bag/Alt. Entities are decoded. */
  values: string[];
  form: 'element' | 'attribute' | 'resource';
}

/** Decodes the XML entities an XMP writer may use (named and numeric). */
export function decodeXmlEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|quot|amp|lt|gt|apos);/g, (_m, e: string) => {
    if (e === 'quot') return '"';
    if (e === 'amp') return '&';
    if (e === 'lt') return '<';
    if (e === 'gt') return '>';
    if (e === 'apos') return "'";
    const code = e.startsWith('#x') ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    return Number.isFinite(code) && code >= 0 && code <= 0x10ffff ? String.fromCodePoint(code) : '';
  });
}

/** prefix → namespace URI, from every xmlns declaration in the packet(s). */
export function namespaceMap(xmp: string): Map<string, string> {
  const map = new Map<string, string>();
  const decl = /xmlns:([A-Za-z_][\w.-]*)\s*=\s*(["'])/g;
  let m: RegExpExecArray | null;
  while ((m = decl.exec(xmp)) !== null && map.size < 256) {
    const start = m.index + m[0].length;
    const end = xmp.indexOf(m[2]!, start);
    if (end < 0) break;
    if (!map.has(m[1]!)) map.set(m[1]!, xmp.slice(start, end));
    decl.lastIndex = end + 1;
  }
  return map;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Prefixes bound to a namespace (by exact URI, or by URI ignoring a trailing slash/#). */
function prefixesFor(map: Map<string, string>, ns: string): string[] {
  const norm = (u: string) => u.trim().replace(/[/#]+$/, '').toLowerCase();
  const want = norm(ns);
  return [...map.entries()].filter(([, uri]) => norm(uri) === want).map(([p]) => p);
}

function listValues(inner: string): string[] {
  const values: string[] = [];
  // indexOf scanning, not lazy regexes: a damaged packet with thousands of unclosed
  // tags must cost linear time, not quadratic (regexes here would block the process).
  const open = /<rdf:li\b/g;
  let m: RegExpExecArray | null;
  while ((m = open.exec(inner)) !== null && values.length < MAX_LIST_ITEMS) {
    const tagEnd = inner.indexOf('>', m.index);
    if (tagEnd < 0) break;
    if (inner[tagEnd - 1] === '/') {
      values.push('');
      open.lastIndex = tagEnd + 1;
      continue;
    }
    const close = inner.indexOf('</rdf:li>', tagEnd);
    if (close < 0) break;
    values.push(decodeXmlEntities(inner.slice(tagEnd + 1, close).trim()));
    open.lastIndex = close + '</rdf:li>'.length;
  }
  if (values.length || /<rdf:li\b/.test(inner)) return values;
  return [decodeXmlEntities(inner.trim())];
}

/** Caps that keep a hostile packet cheap: real packets have a handful of each. */
const MAX_LIST_ITEMS = 256;
const MAX_HITS = 64;
const MAX_TAG_LENGTH = 64 * 1024;

/**
 * Finds a property by namespace and local name. With `anyNamespace`, any prefix with
 * that local name matches too (used for the AIGC field, which some writers put in a
 * namespace of their own); the namespace each hit was bound to is reported.
 */
export function findXmpProperty(
  xmp: string,
  ns: string,
  name: string,
  opts: { anyNamespace?: boolean } = {},
): XmpProperty[] {
  const map = namespaceMap(xmp);
  const prefixes = opts.anyNamespace ? undefined : prefixesFor(map, ns);
  if (prefixes && prefixes.length === 0) return [];
  const prefixRe = prefixes ? `(${prefixes.map(escapeRe).join('|')})` : '([A-Za-z_][\\w.-]*)';
  const nameRe = escapeRe(name);
  const out: XmpProperty[] = [];
  // Element form: <p:Name>value</p:Name>, <p:Name><rdf:Seq>…</rdf:Seq></p:Name>, or
  // <p:Name rdf:resource="…"/>. Openings are found by a regex without backtracking
  // over content; tag ends and closings by indexOf, resuming after each closing, so the
  // scan stays linear even on packets with thousands of unclosed tags.
  const el = new RegExp(`<${prefixRe}:${nameRe}(?=[\\s/>])`, 'g');
  const unclosed = new Set<string>();
  let m: RegExpExecArray | null;
  while ((m = el.exec(xmp)) !== null && out.length < MAX_HITS) {
    const prefix = m[1]!;
    const tagEnd = xmp.indexOf('>', m.index);
    if (tagEnd < 0) break;
    // Openings inside this (malformed) start tag are not properties: skip past it.
    el.lastIndex = Math.max(el.lastIndex, tagEnd + 1);
    const attrs = xmp.slice(m.index + m[0].length, Math.min(tagEnd, m.index + MAX_TAG_LENGTH));
    const ns = map.get(prefix) ?? '';
    let inner: string | undefined;
    if (xmp[tagEnd - 1] !== '/' && !unclosed.has(prefix)) {
      const closeTag = `</${prefix}:${name}>`;
      const close = xmp.indexOf(closeTag, tagEnd);
      if (close < 0) unclosed.add(prefix); // no later opening can find one either
      else {
        inner = xmp.slice(tagEnd + 1, close);
        el.lastIndex = close + closeTag.length;
      }
    }
    if (inner === undefined || inner.trim() === '') {
      const res = /rdf:resource\s*=\s*(?:"([^"]*)"|'([^']*)')/.exec(attrs);
      if (res) out.push({ ns, prefix, name, values: [decodeXmlEntities(res[1] ?? res[2] ?? '')], form: 'resource' });
      else out.push({ ns, prefix, name, values: [''], form: 'element' });
      continue;
    }
    out.push({ ns, prefix, name, values: listValues(inner), form: 'element' });
  }
  // Attribute form on rdf:Description (or any element): p:Name="value".
  const attr = new RegExp(`\\s${prefixRe}:${nameRe}\\s*=\\s*(["'])`, 'g');
  let hits = 0;
  while ((m = attr.exec(xmp)) !== null && hits < MAX_HITS) {
    const quote = m[2]!;
    const start = m.index + m[0].length;
    const end = xmp.indexOf(quote, start);
    if (end < 0) break;
    out.push({ ns: map.get(m[1]!) ?? '', prefix: m[1]!, name, values: [decodeXmlEntities(xmp.slice(start, end))], form: 'attribute' });
    attr.lastIndex = end + 1;
    hits++;
  }
  return out;
}

/** First non-empty text value of a property, or undefined. */
export function xmpText(xmp: string | undefined, ns: string, name: string): string | undefined {
  if (!xmp) return undefined;
  for (const p of findXmpProperty(xmp, ns, name)) {
    const v = p.values.find((x) => x.trim() !== '');
    if (v !== undefined) return v.trim();
  }
  return undefined;
}

/** All non-empty text values of a property across the packet(s). */
export function xmpTexts(xmp: string | undefined, ns: string, name: string): string[] {
  if (!xmp) return [];
  return findXmpProperty(xmp, ns, name)
    .flatMap((p) => p.values)
    .map((v) => v.trim())
    .filter((v) => v !== '');
}
