// Group commit for claim submission (the hot path). Submissions that arrive while a
// commit is running wait for it to finish and are then written together: one transaction,
// two calls of PL/pgSQL functions (migration 2: `submit_read` reads the orders and locks
// the audit head; `submit_write` writes every claim, blob, media row, audit entry, the head,
// the analysis jobs and the webhook jobs) for the whole group. The functions keep their
// plans for the connection, so nothing is parsed and planned again per group.
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

const SUBMIT_WRITE = `SELECT submit_write(${Array.from({ length: 38 }, (_, i) => `$${i + 1}`).join(', ')})`;

type Outcome = { ok: true; result: MutationResult } | { ok: false; error: unknown };

/** Writes a group of claims in the open transaction; returns each one's outcome. */
async function writeGroup(tx: SqlQueryable, group: Pending[]): Promise<Outcome[]> {
  const row = (await tx.query<{ head_seq: string | number; head_hash: string; order_rows: unknown }>(
    'SELECT * FROM submit_read($1, $2)',
    [group.map((g) => g.p.tenantId), group.map((g) => g.c.orderId)],
  )).rows[0]!;
  const head = { seq: row.head_seq, hash: row.head_hash, orders: row.order_rows };
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
    SUBMIT_WRITE,
    [...claims, ...media, ...audit, last.seq, last.hash, ...analyze, ...hooks],
  );
  return outcomes;
}
