// Review policy as data: a JSON rules file the platform edits. It is validated when the
// service starts (a bad file stops the start with a message naming the bad field) and then
// applied to each analysed claim. The policy recommends a route for the claim; it never
// rejects one: rejection is always a person's decision.

import { readFileSync } from 'node:fs';
import type { ImageReport, ImageVerdict } from '../forensics/types.ts';

export interface Policy {
  version: 1;
  autoApprove: {
    enabled: boolean;
    /** Claims for at most this amount (in the order's currency) may be approved automatically. */
    maxAmount: number;
    /** Every photo must have at most this risk… */
    maxImageRisk: number;
    /** …and one of these verdicts. */
    allowedVerdicts: ImageVerdict[];
    claimTypes: Array<'refund_only' | 'return_refund' | 'repair'>;
    requireCleanBuyer: boolean;
  };
  buyerRecord: {
    /** Earlier claims of the buyer that people rejected. */
    maxRejectedClaims: number;
    /** Earlier claims of the buyer where a photo was judged tampered or AI-generated. */
    maxFlaggedClaims: number;
    /** Claims within the window (this one included). */
    maxClaimsInWindow: number;
    windowDays: number;
  };
  merchantResponseWindowHours: number;
  /** Photo verdicts that block automatic approval and ask the buyer for a new photo. */
  blockingVerdicts: ImageVerdict[];
  moreEvidence: {
    windowHours: number;
    codeLength: number;
  };
}

export const DEFAULT_POLICY: Policy = {
  version: 1,
  autoApprove: {
    enabled: true,
    maxAmount: 200,
    maxImageRisk: 0.2,
    allowedVerdicts: ['clean'],
    claimTypes: ['refund_only', 'return_refund', 'repair'],
    requireCleanBuyer: true,
  },
  buyerRecord: { maxRejectedClaims: 0, maxFlaggedClaims: 0, maxClaimsInWindow: 3, windowDays: 30 },
  merchantResponseWindowHours: 48,
  blockingVerdicts: ['tampered', 'ai_generated'],
  moreEvidence: { windowHours: 72, codeLength: 6 },
};

export class PolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyError';
  }
}

const VERDICTS: ImageVerdict[] = ['clean', 'suspicious', 'tampered', 'ai_generated'];
const TYPES = ['refund_only', 'return_refund', 'repair'] as const;

/** Validates a parsed rules object, filling absent fields from the default. */
export function validatePolicy(raw: unknown, source = 'policy'): Policy {
  const problems: string[] = [];
  if (!isObj(raw)) throw new PolicyError(`${source}: the rules must be a JSON object`);
  const known = new Set(Object.keys(DEFAULT_POLICY));
  for (const k of Object.keys(raw)) if (!known.has(k) && k !== '$comment') problems.push(`unknown field '${k}'`);
  if (raw.version !== undefined && raw.version !== 1) problems.push(`version must be 1`);
  const aa = section(raw, 'autoApprove', problems);
  const br = section(raw, 'buyerRecord', problems);
  const me = section(raw, 'moreEvidence', problems);
  const p: Policy = {
    version: 1,
    autoApprove: {
      enabled: bool(aa, 'autoApprove.enabled', DEFAULT_POLICY.autoApprove.enabled, problems),
      maxAmount: num(aa, 'autoApprove.maxAmount', DEFAULT_POLICY.autoApprove.maxAmount, problems, 0),
      maxImageRisk: num(aa, 'autoApprove.maxImageRisk', DEFAULT_POLICY.autoApprove.maxImageRisk, problems, 0, 1),
      allowedVerdicts: list(aa, 'autoApprove.allowedVerdicts', DEFAULT_POLICY.autoApprove.allowedVerdicts, VERDICTS, problems),
      claimTypes: list(aa, 'autoApprove.claimTypes', DEFAULT_POLICY.autoApprove.claimTypes, TYPES, problems),
      requireCleanBuyer: bool(aa, 'autoApprove.requireCleanBuyer', DEFAULT_POLICY.autoApprove.requireCleanBuyer, problems),
    },
    buyerRecord: {
      maxRejectedClaims: int(br, 'buyerRecord.maxRejectedClaims', DEFAULT_POLICY.buyerRecord.maxRejectedClaims, problems),
      maxFlaggedClaims: int(br, 'buyerRecord.maxFlaggedClaims', DEFAULT_POLICY.buyerRecord.maxFlaggedClaims, problems),
      maxClaimsInWindow: int(br, 'buyerRecord.maxClaimsInWindow', DEFAULT_POLICY.buyerRecord.maxClaimsInWindow, problems, 1),
      // at most 100 years: the window is subtracted from the current date in SQL, and a huge one
      // ran out of the timestamp range there, failing every returning buyer's analysis
      windowDays: num(br, 'buyerRecord.windowDays', DEFAULT_POLICY.buyerRecord.windowDays, problems, 0, 36_500),
    },
    merchantResponseWindowHours: num(raw, 'merchantResponseWindowHours', DEFAULT_POLICY.merchantResponseWindowHours, problems, 0, 24 * 365),
    blockingVerdicts: list(raw, 'blockingVerdicts', DEFAULT_POLICY.blockingVerdicts, VERDICTS, problems),
    moreEvidence: {
      windowHours: num(me, 'moreEvidence.windowHours', DEFAULT_POLICY.moreEvidence.windowHours, problems, 0, 24 * 365),
      codeLength: int(me, 'moreEvidence.codeLength', DEFAULT_POLICY.moreEvidence.codeLength, problems, 4, 12),
    },
  };
  if (p.autoApprove.allowedVerdicts.some((v) => p.blockingVerdicts.includes(v))) {
    problems.push('autoApprove.allowedVerdicts must not contain a verdict listed in blockingVerdicts');
  }
  if (problems.length) throw new PolicyError(`${source}: ${problems.join('; ')}`);
  return p;
}

export function loadPolicyFile(path: string): Policy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new PolicyError(`${path}: cannot read the rules file (${(e as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new PolicyError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  return validatePolicy(raw, path);
}

function isObj(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function section(o: Record<string, any>, k: keyof Policy, problems: string[]): Record<string, any> {
  if (o[k] === undefined) return {};
  if (!isObj(o[k])) {
    problems.push(`${k} must be an object`);
    return {};
  }
  // A misspelt limit must not be ignored in favour of the default (autoApprove.maxAmout would
  // leave the default maxAmount in force, and claims the platform meant to hold back approved).
  const known = Object.keys(DEFAULT_POLICY[k] as object);
  for (const f of Object.keys(o[k])) if (!known.includes(f) && f !== '$comment') problems.push(`unknown field '${k}.${f}'`);
  return o[k];
}
function leaf(path: string): string {
  return path.split('.').pop()!;
}
function bool(o: Record<string, any>, path: string, d: boolean, problems: string[]): boolean {
  const v = o[leaf(path)];
  if (v === undefined) return d;
  if (typeof v !== 'boolean') problems.push(`${path} must be true or false`);
  return typeof v === 'boolean' ? v : d;
}
function num(o: Record<string, any>, path: string, d: number, problems: string[], min = -Infinity, max = Infinity): number {
  const v = o[leaf(path)];
  if (v === undefined) return d;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    problems.push(`${path} must be a number${min > -Infinity ? ` ≥ ${min}` : ''}${max < Infinity ? ` and ≤ ${max}` : ''}`);
    return d;
  }
  return v;
}
function int(o: Record<string, any>, path: string, d: number, problems: string[], min = 0, max = Infinity): number {
  const v = num(o, path, d, problems, min, max);
  if (!Number.isInteger(v)) problems.push(`${path} must be a whole number`);
  return v;
}
function list<T extends string>(o: Record<string, any>, path: string, d: T[], allowed: readonly T[], problems: string[]): T[] {
  const v = o[leaf(path)];
  if (v === undefined) return d;
  if (!Array.isArray(v) || v.some((x) => !allowed.includes(x))) {
    problems.push(`${path} must be a list of: ${allowed.join(', ')}`);
    return d;
  }
  return v as T[];
}

export interface BuyerRecord {
  rejectedClaims: number;
  flaggedClaims: number;
  claimsInWindow: number;
}

export type PolicyOutcome = 'auto_approve' | 'request_more_evidence' | 'merchant_window';

export interface PolicyResult {
  outcome: PolicyOutcome;
  /** Why, for the audit log and the reviewer. */
  reasons: string[];
}

export interface PolicyInput {
  type: 'refund_only' | 'return_refund' | 'repair';
  amount: number;
  images: ImageReport[];
  buyer: BuyerRecord;
  /** A blocking verdict was seen in an earlier round of this claim. */
  previouslyBlocked: boolean;
  /** Buyer's new photo for the one-time code: problems found with it (copy of a reference…). */
  newEvidenceProblems?: string[];
}

/** Pure: the route the policy recommends for an analysed claim. */
export function evaluatePolicy(p: Policy, input: PolicyInput): PolicyResult {
  const blocking = input.images.filter((i) => i.verdict && p.blockingVerdicts.includes(i.verdict));
  if (blocking.length) {
    const reasons = blocking.map((i) => `${i.file}: verdict ${i.verdict}`);
    // A second blocking round goes to people instead of looping on the buyer.
    if (input.previouslyBlocked) return { outcome: 'merchant_window', reasons: [...reasons, 'blocked again after new evidence'] };
    return { outcome: 'request_more_evidence', reasons };
  }
  const reasons: string[] = [];
  const aa = p.autoApprove;
  if (!aa.enabled) reasons.push('automatic approval is off');
  if (input.images.length === 0) reasons.push('no analysable photo');
  for (const i of input.images) {
    if (i.error) reasons.push(`${i.file}: not analysable (${i.error.code})`);
    else if (!i.verdict || !aa.allowedVerdicts.includes(i.verdict)) reasons.push(`${i.file}: verdict ${i.verdict}`);
    else if ((i.risk ?? 1) > aa.maxImageRisk) reasons.push(`${i.file}: risk ${i.risk} above ${aa.maxImageRisk}`);
  }
  if (input.amount > aa.maxAmount) reasons.push(`amount ${input.amount} above ${aa.maxAmount}`);
  if (!aa.claimTypes.includes(input.type)) reasons.push(`claim type ${input.type} is not approved automatically`);
  if (aa.requireCleanBuyer) {
    const b = input.buyer;
    const br = p.buyerRecord;
    if (b.rejectedClaims > br.maxRejectedClaims) reasons.push(`buyer has ${b.rejectedClaims} rejected claims`);
    if (b.flaggedClaims > br.maxFlaggedClaims) reasons.push(`buyer has ${b.flaggedClaims} claims with tampered or AI-generated photos`);
    if (b.claimsInWindow > br.maxClaimsInWindow) reasons.push(`buyer made ${b.claimsInWindow} claims in ${br.windowDays} days`);
  }
  if (input.previouslyBlocked) reasons.push('an earlier photo of this claim was judged tampered or AI-generated');
  for (const pr of input.newEvidenceProblems ?? []) reasons.push(pr);
  if (reasons.length === 0) return { outcome: 'auto_approve', reasons: ['every photo low risk, amount under the limit, buyer record clean'] };
  return { outcome: 'merchant_window', reasons };
}
