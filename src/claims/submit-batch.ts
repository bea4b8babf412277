// Group commit for claim submission (the hot path). Submissions that arrive while a
// commit is running wait for it to finish and are then written together: one transaction,
// two statements (read the orders and lock the audit head; write every claim, blob, media
// row, audit entry, the head, the analysis jobs and the webhook jobs) for the whole group.
// The database parses, plans and commits once per group instead of once per claim, which
// is where PGlite (PostgreSQL in WebAssembly on the server's main thread) spent its time.
//
// Guarantees kept: each request is answered only after the transaction holding its claim
// has committed (every 202 is durable); a claim refused by a check (unknown order, amount
// above the order's) is left out of the group with its own typed error and changes nothing;
// if the transaction fails, every claim of the group gets the error and none is stored.
// No timer: a group is flushed as soon as the previous commit ends (or on the next turn of
// the event loop when none runs), so a lone request waits for nothing.

import { auditParams, buildAuditEntry, type AuditEntry } from './audit.ts';
import { forbidden, invalid, notFound } from './errors.ts';
import type { AcceptedFile, Principal } from './model.ts';
import { newId, type ClaimInput, type MutationResult } from './service.ts';
import type { SqlClient, SqlQueryable } from '../store/sql.ts';

interface Pending {
  p: Principal;
  c: ClaimInput;
  files: AcceptedFile[];
  resolve(r: MutationResult): void;
  reject(e: unknown): void;
}

export interface SubmitBatcherOptions {
  /** Most claims written in one transaction. */
  maxBatch?: number;
  /** Called after each commit that queued jobs (wakes the job runner). */
  onCommitted?: () => void;
}

export class SubmitBatcher {
  private queue: Pending[] = [];
  private running = false;
  private scheduled = false;
  readonly maxBatch: number;
  /** Sizes of the groups written (for the benchmark's report). */
  readonly stats = { batches: 0, claims: 0, ms: 0 };

  constructor(
    private readonly db: SqlClient,
    private readonly opts: SubmitBatcherOptions = {},
  ) {
    this.maxBatch = opts.maxBatch ?? 64;
  }

  submit(p: Principal, c: ClaimInput, files: AcceptedFile[]): Promise<MutationResult> {
    if (p.role !== 'platform') return Promise.reject(forbidden('claims are submitted by the platform'));
    if (files.length === 0) return Promise.reject(invalid('at least one evidence file is required'));
    return new Promise((resolve, reject) => {
      this.queue.push({ p, c, files, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running || this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    // Let the requests already parsed in this turn of the event loop join the group.
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.running || this.queue.length === 0) return;
    this.running = true;
    const group = this.queue.splice(0, this.maxBatch);
    try {
      const t0 = performance.now();
      const outcomes = await this.db.transaction((tx) => writeGroup(tx, group));
      this.stats.ms += performance.now() - t0;
      this.stats.batches++;
      this.stats.claims += outcomes.filter((o) => o.ok).length;
      if (outcomes.some((o) => o.ok)) this.opts.onCommitted?.();
      group.forEach((item, i) => {
        const o = outcomes[i]!;
        if (o.ok) item.resolve(o.result);
        else item.reject(o.error);
      });
    } catch (e) {
      for (const item of group) item.reject(e);
    } finally {
      this.running = false;
      this.schedule();
    }
  }
}

type Outcome = { ok: true; result: MutationResult } | { ok: false; error: unknown };

/** Writes a group of claims in the open transaction; returns each one's outcome. */
async function writeGroup(tx: SqlQueryable, group: Pending[]): Promise<Outcome[]> {
  const head = (await tx.query(
    `SELECT h.seq, h.hash,
            COALESCE((SELECT json_agg(o) FROM (
               SELECT o.tenant_id, o.id, o.merchant_id, o.buyer_id, o.sku, o.amount, o.currency,
                      ARRAY(SELECT w.id FROM webhook_endpoints w WHERE w.tenant_id = o.tenant_id AND w.active ORDER BY w.id) AS endpoints
               FROM orders o JOIN (SELECT DISTINCT * FROM unnest($1::text[], $2::text[])) AS k(t, id) ON o.tenant_id = k.t AND o.id = k.id) o), '[]') AS orders
     FROM audit_head h WHERE h.id = 1 FOR UPDATE OF h`,
    [group.map((g) => g.p.tenantId), group.map((g) => g.c.orderId)],
  )).rows[0];
  const orderRows: any[] = typeof head.orders === 'string' ? JSON.parse(head.orders) : head.orders;
  const orders = new Map(orderRows.map((o) => [`${o.tenant_id}\u0000${o.id}`, o]));

  let prev: { seq: number | string; hash: string } = { seq: head.seq, hash: head.hash };
  const outcomes: Outcome[] = [];
  const claims: unknown[][] = Array.from({ length: 10 }, () => []);
  const media: unknown[][] = Array.from({ length: 11 }, () => []);
  const audit: unknown[][] = Array.from({ length: 11 }, () => []);
  const analyze: unknown[][] = [[], []];
  const hooks: unknown[][] = [[], []];
  let last: AuditEntry | undefined;
  for (const { p, c, files } of group) {
    const o = orders.get(`${p.tenantId}\u0000${c.orderId}`);
    if (!o) {
      outcomes.push({ ok: false, error: notFound('order') });
      continue;
    }
    if (c.amount > Number(o.amount)) {
      outcomes.push({ ok: false, error: invalid(`the claimed amount ${c.amount} is above the order amount ${Number(o.amount)}`) });
      continue;
    }
    const id = newId('clm');
    const entry = buildAuditEntry(prev, {
      tenantId: p.tenantId,
      claimId: id,
      actor: p.keyId,
      action: 'claim.submitted',
      fromState: null,
      toState: 'submitted',
      data: { orderId: o.id, type: c.type, amount: c.amount, evidence: files.map((f) => f.sha256) },
    });
    prev = entry;
    last = entry;
    [id, p.tenantId, o.id, o.merchant_id, o.buyer_id, o.sku, c.type, c.reason, c.amount, o.currency].forEach((v, i) => claims[i]!.push(v));
    for (const f of files) {
      [newId('med'), p.tenantId, o.merchant_id, id, f.sha256, f.bytes.length, f.filename, f.contentType ?? null, f.width, f.height, f.format].forEach((v, i) => media[i]!.push(v));
    }
    auditParams(entry).forEach((v, i) => audit[i]!.push(v));
    analyze[0]!.push(JSON.stringify({ claimId: id, round: 1 }));
    analyze[1]!.push(`analyze:${id}:1`);
    for (const e of (o.endpoints ?? []) as string[]) {
      const event = { id: newId('evt'), type: 'claim.state_changed', createdAt: new Date().toISOString(), data: { claimId: id, from: null, to: 'submitted', actor: p.keyId, merchantId: o.merchant_id, orderId: o.id } };
      hooks[0]!.push(e);
      hooks[1]!.push(JSON.stringify({ endpointId: e, event }));
    }
    outcomes.push({ ok: true, result: { status: 202, body: { id, state: 'submitted' } } });
  }
  if (!last) return outcomes;
  await tx.query(
    `WITH c AS (
       INSERT INTO claims (id, tenant_id, order_id, merchant_id, buyer_id, sku, type, reason, amount, currency, state)
       SELECT *, 'submitted' FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::numeric[], $10::text[])),
     b AS (
       INSERT INTO blobs (sha256, size) SELECT DISTINCT * FROM unnest($15::text[], $16::bigint[]) ON CONFLICT (sha256) DO NOTHING),
     m AS (
       INSERT INTO media (id, tenant_id, merchant_id, owner_type, owner_id, kind, round, blob_sha256, filename, content_type, width, height, format)
       SELECT u.mid, u.tid, u.mer, 'claim', u.cid, 'evidence', 1, u.sha, u.fname, u.ctype, u.w, u.h, u.fmt
       FROM unnest($11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $17::text[], $18::text[], $19::int[], $20::int[], $21::text[])
         AS u(mid, tid, mer, cid, sha, fname, ctype, w, h, fmt)),
     a AS (
       INSERT INTO audit_log (seq, tenant_id, claim_id, at, actor, action, from_state, to_state, data, prev_hash, hash)
       SELECT * FROM unnest($22::bigint[], $23::text[], $24::text[], $25::text[], $26::text[], $27::text[], $28::text[], $29::text[], $30::jsonb[], $31::text[], $32::text[])),
     h AS (
       UPDATE audit_head SET seq = $33, hash = $34 WHERE id = 1),
     j AS (
       INSERT INTO jobs (task, payload, max_attempts, dedupe_key)
       SELECT 'analyze_claim', u.payload, 3, u.dedupe FROM unnest($35::jsonb[], $36::text[]) AS u(payload, dedupe) ON CONFLICT (dedupe_key) DO NOTHING),
     w AS (
       INSERT INTO jobs (task, payload, max_attempts)
       SELECT 'deliver_webhook', u.payload, 8 FROM unnest($37::text[], $38::jsonb[]) AS u(e, payload))
     SELECT 1`,
    [...claims, ...media, ...audit, last.seq, last.hash, ...analyze, ...hooks],
  );
  return outcomes;
}
