// Group commit for claim submission (the hot path). Submissions that arrive while a
// commit is running wait for it to finish and are then written together: one transaction
// for the whole group (submit-write.ts), with two calls of PL/pgSQL functions (migration 2:
// `submit_read` reads the orders and locks the audit head; `submit_write` writes every
// claim, blob, media row, audit entry, the head, the analysis jobs and the webhook jobs).
// The database commits once per group instead of once per claim, and the functions keep
// their plans, so nothing is parsed and planned again per group. The group is written as a
// transaction script, so with PGlite on its own thread the whole transaction runs there and
// the serving thread sends one message and gets one back.
//
// Guarantees kept: each request is answered only after the transaction holding its claim
// has committed (every 202 is durable); a claim refused by a check (unknown order, amount
// above the order's) is left out of the group with its own typed error and changes nothing;
// if the transaction fails, none of the group is stored and each claim is written again in a
// transaction of its own, so a claim whose data the database refuses fails alone.
// No timer: a group is flushed as soon as the previous commit ends (or on the next turn of
// the event loop when none runs), so a lone request waits for nothing.

import { ServiceError, forbidden, invalid } from './errors.ts';
import type { AcceptedFile, Principal } from './model.ts';
import type { ClaimInput, MutationResult } from './service.ts';
import { SUBMIT_WRITE_MODULE, type GroupItem, type GroupOutcome } from './submit-write.ts';
import type { SqlClient } from '../store/sql.ts';

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
  readonly stats = { batches: 0, claims: 0, ms: 0, retriedGroups: 0 };

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
      try {
        await this.write(group);
      } catch (e) {
        if (group.length === 1) throw e;
        // The group's transaction failed and none of it was stored. One submission's data may
        // be the cause (a value the database refuses that no check caught), and it must not
        // fail the others, which may be other clients': each is written again on its own, so
        // only the one at fault gets the error.
        this.stats.retriedGroups++;
        for (const item of group) await this.write([item]).catch((err) => item.reject(err));
      }
      this.stats.ms += performance.now() - t0;
    } catch (e) {
      for (const item of group) item.reject(e);
    } finally {
      this.running = false;
      this.schedule();
    }
  }

  /** Writes `group` in one transaction and answers each of its submissions; throws when the transaction fails. */
  private async write(group: Pending[]): Promise<void> {
    const items: GroupItem[] = group.map(({ p, c, files }) => ({
      tenantId: p.tenantId,
      keyId: p.keyId,
      claim: { orderId: c.orderId, type: c.type, reason: c.reason, amount: c.amount },
      files: files.map((f) => ({ sha256: f.sha256, size: f.size, filename: f.filename, contentType: f.contentType, width: f.width, height: f.height, format: f.format })),
    }));
    const outcomes = await this.db.transactionScript<GroupItem[], GroupOutcome[]>(SUBMIT_WRITE_MODULE, 'writeClaimGroup', items);
    this.stats.batches++;
    this.stats.claims += outcomes.filter((o) => o.ok).length;
    if (outcomes.some((o) => o.ok)) this.opts.onCommitted?.();
    group.forEach((item, i) => {
      const o = outcomes[i]!;
      if (o.ok) item.resolve({ status: 202, body: { id: o.id, state: 'submitted' } });
      else item.reject(new ServiceError(o.status, o.code, o.message));
    });
  }
}
