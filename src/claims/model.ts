// The claim workflow's states and the transitions allowed between them.

export const CLAIM_STATES = [
  'submitted',
  'analysing',
  'awaiting_merchant',
  'in_review',
  'approved',
  'rejected',
  'more_evidence_requested',
  'escalated',
] as const;
export type ClaimState = (typeof CLAIM_STATES)[number];

export const CLAIM_TYPES = ['refund_only', 'return_refund', 'repair'] as const;
export type ClaimType = (typeof CLAIM_TYPES)[number];

export const DECISIONS = ['approve', 'reject', 'request_more_evidence', 'escalate'] as const;
export type Decision = (typeof DECISIONS)[number];

export const TRANSITIONS: Record<ClaimState, readonly ClaimState[]> = {
  submitted: ['analysing'],
  analysing: ['awaiting_merchant', 'approved', 'more_evidence_requested', 'in_review'],
  awaiting_merchant: ['in_review'],
  in_review: ['approved', 'rejected', 'more_evidence_requested', 'escalated'],
  escalated: ['approved', 'rejected', 'more_evidence_requested'],
  more_evidence_requested: ['submitted', 'in_review'],
  approved: [],
  rejected: [],
};

export const DECISION_STATE: Record<Decision, ClaimState> = {
  approve: 'approved',
  reject: 'rejected',
  request_more_evidence: 'more_evidence_requested',
  escalate: 'escalated',
};

export type Role = 'platform' | 'merchant' | 'reviewer';

export interface Principal {
  keyId: string;
  tenantId: string;
  role: Role;
  merchantId: string | null;
}

/** A file that passed image intake and is ready to be stored. */
export interface AcceptedFile {
  /**
   * The file's bytes, needed only to store it: absent when intake already wrote the blob
   * (`stored`), so the serving thread does not keep or receive a copy it has no use for.
   */
  bytes?: Uint8Array;
  /** Its length in bytes. */
  size: number;
  sha256: string;
  filename: string;
  contentType?: string;
  width: number;
  height: number;
  format: string;
  /** The blob is already in the blob store under its name (intake wrote it); putBlobs skips it. */
  stored?: boolean;
}
