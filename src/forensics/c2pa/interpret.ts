// Pure interpretation of a C2PA manifest store as read by the library (c2pa-rs JSON):
// who signed it, what it says happened to the picture, whether it validates, and which
// AI source types it declares. No I/O here; the detector module turns these facts into
// signals.

import { createHash } from 'node:crypto';
import type { ByteRange, JpegSegment } from './container.ts';

export interface C2paStatusEntry {
  code: string;
  url?: string;
  explanation?: string;
}

export interface C2paAction {
  action: string;
  softwareAgent?: string;
  digitalSourceType?: string;
  when?: string;
  description?: string;
}

export interface C2paIngredient {
  title?: string;
  format?: string;
  relationship?: string;
  /** Label of the ingredient's own manifest inside this store, when it has one. */
  manifest?: string;
  /** Validation codes the library recorded for this ingredient. */
  validationCodes: string[];
}

export interface C2paSigner {
  issuer?: string;
  commonName?: string;
  alg?: string;
  serialNumber?: string;
}

/** Why a manifest does not validate. */
export type C2paErrorClass = 'signature' | 'hash' | 'claim' | 'credential';

export type AiSourceKind = 'trained' | 'composite';

export interface C2paAiSource {
  kind: AiSourceKind;
  digitalSourceType: string;
  /** Label of the manifest that declares it. */
  manifest: string;
  /** True when it is the active manifest (the claim about this very file). */
  active: boolean;
  /** How the declaring manifest relates to the active one (parentOf / componentOf / …). */
  relationship?: string;
  action?: string;
  softwareAgent?: string;
}

export interface C2paFacts {
  activeManifest: string;
  manifestCount: number;
  claimGenerator?: string;
  claimGeneratorInfo: string[];
  title?: string;
  format?: string;
  signer: C2paSigner;
  signingTime?: string;
  actions: C2paAction[];
  ingredients: C2paIngredient[];
  /** The library's overall state: Invalid | Valid | Trusted. */
  validationState?: string;
  /** Failures of the active manifest other than trust-list membership. */
  failures: C2paStatusEntry[];
  /** The strongest error class among `failures` (signature > hash > claim > credential). */
  errorClass?: C2paErrorClass;
  /** Trust-list status, reported apart from cryptographic validity. */
  trust: { status: 'trusted' | 'untrusted' | 'unknown'; codes: string[] };
  /** Signed with a certificate that names itself a test certificate. */
  testCertificate: boolean;
  /** Problems found in ingredients (never make the active manifest invalid by themselves). */
  ingredientIssues: { ingredient: string; codes: string[] }[];
  aiSources: C2paAiSource[];
}

/** Codes about trust-list membership and revocation checks we do not perform: not validity. */
const TRUST_CODES = /^(signingCredential\.(untrusted|trusted|ocsp\.(skipped|inaccessible|unknown|notRevoked))|timeStamp\.(untrusted|trusted))$/;
const SIGNATURE_CODES = /^(claimSignature\.(mismatch|missing)|timeStamp\.(mismatch|malformed)|signingCredential\.invalid|algorithm\.unsupported)$/;
const HASH_CODES = /^assertion\.(dataHash|bmffHash|boxesHash|collectionHash)\.(mismatch|malformed)$/;
const CREDENTIAL_CODES = /^(signingCredential\.(revoked|expired|ocsp\.revoked)|claimSignature\.outsideValidity|timeStamp\.outsideValidity)$/;

const AI_SOURCE_KINDS: Record<string, AiSourceKind> = {
  trainedalgorithmicmedia: 'trained',
  compositewithtrainedalgorithmicmedia: 'composite',
};

export function classifyCode(code: string): C2paErrorClass | 'trust' {
  if (TRUST_CODES.test(code)) return 'trust';
  if (SIGNATURE_CODES.test(code)) return 'signature';
  if (HASH_CODES.test(code)) return 'hash';
  if (CREDENTIAL_CODES.test(code)) return 'credential';
  return 'claim';
}

const CLASS_ORDER: C2paErrorClass[] = ['signature', 'hash', 'claim', 'credential'];

/** Reads the facts out of the library's manifest-store JSON; undefined when it names no active manifest. */
export function interpretStore(store: unknown): C2paFacts | undefined {
  const s = obj(store);
  const activeLabel = str(s.active_manifest);
  const manifests = obj(s.manifests);
  if (!activeLabel || !manifests[activeLabel]) return undefined;
  const active = obj(manifests[activeLabel]);
  const sig = obj(active.signature_info);

  const results = obj(s.validation_results);
  const activeResults = obj(results.activeManifest);
  // Prefer the per-manifest results; old stores only have the flat list, which also holds
  // ingredient entries, so keep only those about the active manifest there.
  const activeStatus: C2paStatusEntry[] = Array.isArray(activeResults.failure)
    ? statusList(activeResults.failure)
    : statusList(s.validation_status).filter((e) => !e.url || e.url.includes(activeLabel) || !e.url.includes('/c2pa/'));

  const trustCodes = activeStatus.filter((e) => classifyCode(e.code) === 'trust').map((e) => e.code);
  const successCodes = statusList(activeResults.success).map((e) => e.code);
  const failures = activeStatus.filter((e) => classifyCode(e.code) !== 'trust');
  const validationState = str(s.validation_state);
  if (validationState === 'Invalid' && failures.length === 0) {
    failures.push({ code: 'validation.invalid', explanation: 'the library marked the store invalid without a specific code' });
  }
  const classes = new Set(failures.map((f) => classifyCode(f.code)));
  const errorClass = CLASS_ORDER.find((c) => classes.has(c));

  const trusted = validationState === 'Trusted' || successCodes.includes('signingCredential.trusted');
  const trust = {
    status: trusted ? ('trusted' as const) : trustCodes.includes('signingCredential.untrusted') ? ('untrusted' as const) : ('unknown' as const),
    codes: [...new Set(trustCodes)],
  };

  const signer: C2paSigner = {
    issuer: str(sig.issuer),
    commonName: str(sig.common_name),
    alg: str(sig.alg),
    serialNumber: str(sig.cert_serial_number),
  };

  const ingredients = arr(active.ingredients).map((i): C2paIngredient => {
    const ing = obj(i);
    return {
      title: str(ing.title),
      format: str(ing.format),
      relationship: str(ing.relationship),
      manifest: str(ing.active_manifest),
      validationCodes: statusList(ing.validation_status).map((e) => e.code),
    };
  });

  // Ingredient problems: the ingredient's own validation codes plus the deltas the library
  // computed for its assertion, merged per ingredient.
  const issues = new Map<string, Set<string>>();
  const labels = arr(active.ingredients).map((i) => str(obj(i).label));
  const keep = (c: string) => classifyCode(c) !== 'trust' && c !== 'ingredient.unknownProvenance';
  const add = (name: string, codes: string[]) => {
    const set = issues.get(name) ?? new Set<string>();
    for (const c of codes) if (keep(c)) set.add(c);
    if (set.size) issues.set(name, set);
  };
  ingredients.forEach((ing, i) => add(ing.title ?? labels[i] ?? `ingredient ${i + 1}`, ing.validationCodes));
  for (const d of arr(results.ingredientDeltas)) {
    const delta = obj(d);
    const uri = str(delta.ingredientAssertionURI) ?? '?';
    const idx = labels.findIndex((l) => !!l && uri.endsWith(`/${l}`));
    const name = idx >= 0 ? (ingredients[idx]!.title ?? labels[idx]!) : uri;
    const deltas = obj(delta.validationDeltas);
    add(name, [...statusList(deltas.failure), ...statusList(deltas.informational)].map((e) => e.code));
  }
  const ingredientIssues = [...issues].map(([ingredient, codes]) => ({ ingredient, codes: [...codes] }));

  return {
    activeManifest: activeLabel,
    manifestCount: Object.keys(manifests).length,
    claimGenerator: str(active.claim_generator),
    claimGeneratorInfo: arr(active.claim_generator_info)
      .map((g) => {
        const o = obj(g);
        const name = str(o.name);
        const version = str(o.version);
        return name ? (version ? `${name} ${version}` : name) : undefined;
      })
      .filter((x): x is string => !!x),
    title: str(active.title),
    format: str(active.format),
    signer,
    signingTime: str(sig.time),
    actions: actionsOf(active),
    ingredients,
    validationState,
    failures,
    errorClass,
    trust,
    testCertificate: /\btest\b/i.test(`${signer.issuer ?? ''} ${signer.commonName ?? ''}`),
    ingredientIssues,
    aiSources: findAiSources(manifests, activeLabel),
  };
}

/** Actions of one manifest (c2pa.actions and c2pa.actions.v2, possibly several assertions). */
export function actionsOf(manifest: Record<string, unknown>): C2paAction[] {
  const out: C2paAction[] = [];
  for (const a of arr(manifest.assertions)) {
    const assertion = obj(a);
    const label = str(assertion.label) ?? '';
    if (!/^c2pa\.actions(\.v\d+)?(__\d+)?$/.test(label)) continue;
    for (const x of arr(obj(assertion.data).actions)) {
      const act = obj(x);
      const params = obj(act.parameters);
      const action = str(act.action);
      if (!action) continue;
      out.push(
        compact({
          action,
          softwareAgent: agentName(act.softwareAgent),
          digitalSourceType: str(act.digitalSourceType) ?? str(params.digitalSourceType) ?? str(params['com.adobe.digitalSourceType']),
          when: str(act.when),
          description: str(act.description) ?? str(params.description),
        }),
      );
    }
  }
  return out;
}

/**
 * Every declaration of an AI source type in the store: in actions (where C2PA puts it) and,
 * for robustness, anywhere else in an assertion's data (IPTC/XMP metadata assertions).
 */
export function findAiSources(manifests: Record<string, unknown>, activeLabel: string): C2paAiSource[] {
  const relationOf = new Map<string, string>();
  for (const m of Object.values(manifests)) {
    for (const i of arr(obj(m).ingredients)) {
      const ing = obj(i);
      const label = str(ing.active_manifest);
      if (label && !relationOf.has(label)) relationOf.set(label, str(ing.relationship) ?? 'ingredient');
    }
  }
  const out: C2paAiSource[] = [];
  for (const [label, m] of Object.entries(manifests)) {
    const manifest = obj(m);
    const isActive = label === activeLabel;
    const seen = new Set<string>();
    for (const act of actionsOf(manifest)) {
      const kind = aiKind(act.digitalSourceType);
      if (!kind) continue;
      seen.add(act.digitalSourceType!);
      out.push(
        compact({
          kind,
          digitalSourceType: act.digitalSourceType!,
          manifest: label,
          active: isActive,
          relationship: isActive ? undefined : relationOf.get(label),
          action: act.action,
          softwareAgent: act.softwareAgent,
        }),
      );
    }
    for (const a of arr(manifest.assertions)) {
      const assertion = obj(a);
      if (/^c2pa\.actions/.test(str(assertion.label) ?? '')) continue;
      for (const value of deepStrings(assertion.data, 0)) {
        const kind = aiKind(value);
        if (!kind || seen.has(value)) continue;
        seen.add(value);
        out.push(compact({ kind, digitalSourceType: value, manifest: label, active: isActive, relationship: isActive ? undefined : relationOf.get(label) }));
      }
    }
  }
  return out;
}

function aiKind(uri: string | undefined): AiSourceKind | undefined {
  if (!uri) return undefined;
  const last = uri.trim().replace(/\/+$/, '').split('/').pop()?.toLowerCase() ?? '';
  return AI_SOURCE_KINDS[last];
}

function* deepStrings(v: unknown, depth: number): Generator<string> {
  if (depth > 8) return;
  if (typeof v === 'string') {
    if (v.length < 300) yield v;
  } else if (Array.isArray(v)) {
    for (const x of v.slice(0, 200)) yield* deepStrings(x, depth + 1);
  } else if (v && typeof v === 'object') {
    for (const x of Object.values(v).slice(0, 200)) yield* deepStrings(x, depth + 1);
  }
}

export interface DataHashBinding {
  exclusions: ByteRange[];
  /** Hash algorithm named by the assertion (or the claim default), e.g. sha256. */
  alg?: string;
  /** The signed hash value. */
  hash?: Uint8Array;
}

/**
 * The active manifest's data-hash hard binding (exclusions, algorithm, signed value),
 * from the library's crJSON. Undefined when not found.
 */
export function dataHashBinding(crStore: unknown, activeLabel: string): DataHashBinding | undefined {
  for (const m of arr(obj(crStore).manifests)) {
    const manifest = obj(m);
    if (str(manifest.label) !== activeLabel) continue;
    const assertions = obj(manifest.assertions);
    for (const [label, value] of Object.entries(assertions)) {
      if (!/^c2pa\.hash\.data(__\d+)?$/.test(label)) continue;
      const data = obj(value);
      const exclusions = arr(data.exclusions)
        .map((x) => obj(x))
        .filter((x) => typeof x.start === 'number' && typeof x.length === 'number')
        .map((x) => ({ offset: x.start as number, length: x.length as number }));
      return compact({ exclusions, alg: str(data.alg) ?? str(obj(manifest.claim).alg), hash: decodeB64Field(data.hash) });
    }
  }
  return undefined;
}

const NODE_HASH: Record<string, string> = { sha256: 'sha256', sha384: 'sha384', sha512: 'sha512' };

/**
 * Recomputes the data hash the lenient way: hash every byte outside the exclusions, as
 * the signer declared them, without the validator's rules on what may be excluded.
 * True/false when it can be computed, undefined when the binding is incomplete or odd.
 */
export function lenientDataHashMatches(bytes: Uint8Array, binding: DataHashBinding): boolean | undefined {
  const alg = binding.alg ? NODE_HASH[binding.alg.toLowerCase()] : undefined;
  if (!alg || !binding.hash) return undefined;
  const ranges = [...binding.exclusions].sort((a, b) => a.offset - b.offset);
  const h = createHash(alg);
  let pos = 0;
  for (const r of ranges) {
    if (r.offset < pos || r.length < 0 || r.offset + r.length > bytes.length) return undefined;
    h.update(bytes.subarray(pos, r.offset));
    pos = r.offset + r.length;
  }
  h.update(bytes.subarray(pos));
  return Buffer.from(h.digest()).equals(Buffer.from(binding.hash));
}

/** crJSON writes binary fields as the string `b64'…'`. */
function decodeB64Field(v: unknown): Uint8Array | undefined {
  const s = str(v);
  const m = s ? /^b64'([A-Za-z0-9+/=_-]*)'$/.exec(s) : null;
  if (!m) return undefined;
  const bytes = Buffer.from(m[1]!, 'base64');
  return bytes.length ? new Uint8Array(bytes) : undefined;
}

/**
 * JPEG segments other than the C2PA store itself that a data-hash exclusion leaves
 * unprotected. Early camera signers (e.g. the 2023 Truepic sample) excluded everything
 * from the start of the file to the end of the store, EXIF included; current validators
 * reject such hashes although the image data is intact.
 */
export function excludedNonC2paSegments(exclusions: ByteRange[], segments: JpegSegment[]): JpegSegment[] {
  return segments.filter((seg) => !seg.c2pa && exclusions.some((x) => x.offset < seg.offset + seg.length && seg.offset < x.offset + x.length));
}

function statusList(v: unknown): C2paStatusEntry[] {
  return arr(v)
    .map((x) => obj(x))
    .filter((x) => typeof x.code === 'string')
    .map((x) => compact({ code: x.code as string, url: str(x.url), explanation: str(x.explanation) }));
}

function agentName(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  const o = obj(v);
  const name = str(o.name);
  const version = str(o.version);
  return name ? (version ? `${name} ${version}` : name) : undefined;
}

function obj(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** Drops undefined fields so evidence JSON stays tidy. */
function compact<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}
