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
  for (const m of xmp.matchAll(/xmlns:([A-Za-z_][\w.-]*)\s*=\s*(["'])(.*?)\2/g)) {
    if (!map.has(m[1]!)) map.set(m[1]!, m[3]!);
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
  const items = [...inner.matchAll(/<rdf:li\b[^>]*?(?:\/>|>([\s\S]*?)<\/rdf:li>)/g)];
  if (items.length) return items.map((m) => decodeXmlEntities((m[1] ?? '').trim()));
  return [decodeXmlEntities(inner.trim())];
}

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
  // <p:Name rdf:resource="…"/>.
  const el = new RegExp(`<${prefixRe}:${nameRe}\\b([^>]*?)(?:/>|>([\\s\\S]*?)</\\1:${nameRe}>)`, 'g');
  for (const m of xmp.matchAll(el)) {
    const prefix = m[1]!;
    const attrs = m[2] ?? '';
    const inner = m[3];
    const res = /rdf:resource\s*=\s*(["'])(.*?)\1/.exec(attrs);
    if (inner === undefined || inner.trim() === '') {
      if (res) out.push({ ns: map.get(prefix) ?? '', prefix, name, values: [decodeXmlEntities(res[2]!)], form: 'resource' });
      else out.push({ ns: map.get(prefix) ?? '', prefix, name, values: [''], form: 'element' });
      continue;
    }
    out.push({ ns: map.get(prefix) ?? '', prefix, name, values: listValues(inner), form: 'element' });
  }
  // Attribute form on rdf:Description (or any element): p:Name="value".
  const attr = new RegExp(`\\s${prefixRe}:${nameRe}\\s*=\\s*(["'])([\\s\\S]*?)\\2`, 'g');
  for (const m of xmp.matchAll(attr)) {
    const prefix = m[1]!;
    out.push({ ns: map.get(prefix) ?? '', prefix, name, values: [decodeXmlEntities(m[3]!)], form: 'attribute' });
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
