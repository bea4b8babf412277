// The audit log: every state transition (and other consequential act) appends an entry
// whose hash covers its content and the previous entry's hash, so that altering or
// deleting any entry breaks the chain. The head row names the last entry, so deleting
// the newest entries is detected as well.

import { createHash } from 'node:crypto';
import type { SqlQueryable } from '../store/sql.ts';

export const GENESIS_HASH = '0'.repeat(64);

export interface AuditInput {
  tenantId: string;
  claimId?: string | null;
  actor: string;
  action: string;
  fromState?: string | null;
  toState?: string | null;
  data?: Record<string, unknown>;
}

export interface AuditEntry {
  seq: number;
  tenantId: string;
  claimId: string | null;
  at: string;
  actor: string;
  action: string;
  fromState: string | null;
  toState: string | null;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** JSON with object keys sorted at every level: the same value always hashes the same. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v ?? null);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

export function entryHash(e: Omit<AuditEntry, 'hash'>): string {
  const body = canonicalJson({
    seq: e.seq,
    tenantId: e.tenantId,
    claimId: e.claimId,
    at: e.at,
    actor: e.actor,
    action: e.action,
    fromState: e.fromState,
    toState: e.toState,
    data: e.data,
    prevHash: e.prevHash,
  });
  return createHash('sha256').update(body).digest('hex');
}

/** Appends one entry; must run inside the transaction that makes the change it records. */
export async function appendAudit(tx: SqlQueryable, input: AuditInput): Promise<AuditEntry> {
  const head = (await tx.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE')).rows[0];
  if (!head) throw new Error('audit head missing');
  const entry = buildAuditEntry(head, input);
  await tx.query(
    `INSERT INTO audit_log (seq, tenant_id, claim_id, at, actor, action, from_state, to_state, data, prev_hash, hash)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
    auditParams(entry),
  );
  await tx.query('UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1', [entry.seq, entry.hash]);
  return entry;
}

/** The column values of an entry, in audit_log's column order. */
export function auditParams(e: AuditEntry): unknown[] {
  return [e.seq, e.tenantId, e.claimId, e.at, e.actor, e.action, e.fromState, e.toState, JSON.stringify(e.data), e.prevHash, e.hash];
}

/**
 * The entry that follows `head` (the locked head row). For callers that write the entry
 * and move the head in one statement with other changes (the submission fast path).
 */
export function buildAuditEntry(head: { seq: number | string; hash: string }, input: AuditInput): AuditEntry {
  const entry: Omit<AuditEntry, 'hash'> = {
    seq: Number(head.seq) + 1,
    tenantId: input.tenantId,
    claimId: input.claimId ?? null,
    at: new Date().toISOString(),
    actor: input.actor,
    action: input.action,
    fromState: input.fromState ?? null,
    toState: input.toState ?? null,
    // Round-trip through JSON so the hashed data is exactly what jsonb gives back.
    data: JSON.parse(JSON.stringify(input.data ?? {})),
    prevHash: head.hash,
  };
  return { ...entry, hash: entryHash(entry) };
}

export function rowToEntry(r: any): AuditEntry {
  return {
    seq: Number(r.seq),
    tenantId: r.tenant_id,
    claimId: r.claim_id,
    at: r.at,
    actor: r.actor,
    action: r.action,
    fromState: r.from_state,
    toState: r.to_state,
    data: typeof r.data === 'string' ? JSON.parse(r.data) : r.data,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

export interface AuditProblem {
  seq: number;
  problem: 'altered' | 'missing' | 'broken_link' | 'head_mismatch' | 'anchor_mismatch' | 'outside_chain';
  message: string;
}

export interface AuditVerification {
  ok: boolean;
  entries: number;
  headSeq: number;
  problems: AuditProblem[];
  /** Anchors checked against the chain (verifyAudit's `anchors`). */
  anchors?: number;
}

/**
 * The chain's head at a moment, to be kept outside the database (`claimlens audit anchor`,
 * appended to a log elsewhere). Whoever can write the database can rewrite the whole chain and
 * its head consistently; they cannot change an anchor kept elsewhere, and verifyAudit given the
 * anchors finds any entry at or before one that is gone or no longer hashes the same.
 */
export interface AuditAnchor {
  seq: number;
  hash: string;
  at: string;
}

/** The chain's head row (last seq and hash), if there is one. */
async function readHead(db: SqlQueryable): Promise<{ seq: number | string; hash: string } | undefined> {
  return (await db.query<{ seq: number | string; hash: string }>('SELECT seq, hash FROM audit_head WHERE id = 1')).rows[0];
}

export async function auditAnchor(db: SqlQueryable): Promise<AuditAnchor> {
  const head = await readHead(db);
  return { seq: Number(head?.seq ?? 0), hash: head?.hash ?? GENESIS_HASH, at: new Date().toISOString() };
}

/** Parses anchors, one JSON object a line (blank lines skipped); throws on a malformed line. */
export function parseAnchors(text: string): AuditAnchor[] {
  const out: AuditAnchor[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let a: any;
    try {
      a = JSON.parse(line);
    } catch {
      throw new Error(`anchor line ${i + 1} is not JSON`);
    }
    if (!a || !Number.isSafeInteger(a.seq) || a.seq < 0 || typeof a.hash !== 'string' || !/^[0-9a-f]{64}$/.test(a.hash)) {
      throw new Error(`anchor line ${i + 1} needs a whole "seq" ≥ 0 and a 64-hex "hash"`);
    }
    out.push({ seq: a.seq, hash: a.hash, at: typeof a.at === 'string' ? a.at : '' });
  });
  return out;
}

/**
 * Walks the whole chain in order and reports every break; with `anchors`, also every anchored
 * entry that is gone or hashes differently now (the chain was rewritten since it was anchored).
 */
export async function verifyAudit(db: SqlQueryable, pageSize = 5000, anchors: AuditAnchor[] = []): Promise<AuditVerification> {
  const anchored = new Map<number, string>(); // seq → hash in the chain now, for anchored seqs
  const wanted = new Set(anchors.map((a) => a.seq));
  const problems: AuditProblem[] = [];
  const head = await readHead(db);
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let count = 0;
  // Every row is read, from the lowest seq up: a row slipped in below the chain's first entry
  // (seq 0 or less) is not reachable from the chain but shows in a claim's history.
  let after: number | null = null;
  for (;;) {
    const rows = (await db.query('SELECT * FROM audit_log WHERE $1::bigint IS NULL OR seq > $1 ORDER BY seq LIMIT $2', [after, pageSize])).rows;
    if (rows.length === 0) break;
    for (const r of rows) {
      const e = rowToEntry(r);
      count++;
      after = e.seq;
      if (e.seq < expectedSeq) {
        problems.push({ seq: e.seq, problem: 'outside_chain', message: `entry ${e.seq} is not part of the chain (its entries are numbered from 1)` });
        continue;
      }
      if (e.seq !== expectedSeq) {
        problems.push({ seq: expectedSeq, problem: 'missing', message: `entries ${expectedSeq}…${e.seq - 1} are missing` });
      }
      if (e.prevHash !== prevHash) {
        problems.push({ seq: e.seq, problem: 'broken_link', message: `entry ${e.seq} does not follow the entry before it` });
      }
      const { hash, ...rest } = e;
      if (entryHash(rest) !== hash) {
        problems.push({ seq: e.seq, problem: 'altered', message: `entry ${e.seq} was changed after it was written` });
      }
      if (wanted.has(e.seq)) anchored.set(e.seq, hash);
      prevHash = hash;
      expectedSeq = e.seq + 1;
    }
  }
  for (const a of anchors) {
    if (a.seq === 0) continue; // the empty chain: nothing to lose
    const now = anchored.get(a.seq);
    const when = a.at ? ` anchored at ${a.at}` : ' anchored';
    if (now === undefined) problems.push({ seq: a.seq, problem: 'anchor_mismatch', message: `entry ${a.seq},${when}, is gone` });
    else if (now !== a.hash) problems.push({ seq: a.seq, problem: 'anchor_mismatch', message: `entry ${a.seq} no longer has the hash it was${when} with: the chain was rewritten` });
  }
  const headSeq = head ? Number(head.seq) : 0;
  if (!head || headSeq !== expectedSeq - 1 || head.hash !== prevHash) {
    problems.push({
      seq: headSeq,
      problem: 'head_mismatch',
      message: `the chain head names entry ${headSeq} but the log ends at entry ${expectedSeq - 1}`,
    });
  }
  return { ok: problems.length === 0, entries: count, headSeq, problems, ...(anchors.length ? { anchors: anchors.length } : {}) };
}
