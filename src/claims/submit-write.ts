// The write of one group of claim submissions (see submit-batch.ts), as a transaction script
// (SqlClient.transactionScript): with PGlite on its own thread it runs on that thread, so a
// group costs the serving thread one message out and one back instead of a round trip per
// statement. Plain data in and out (it crosses threads by structured clone), and this module
// loads nothing heavy: the database thread imports it.

import { randomBytes } from 'node:crypto';
import { auditParams, buildAuditEntry, type AuditEntry } from './audit.ts';
import { ServiceError, invalid, notFound } from './errors.ts';
import { newId } from './ids.ts';
import type { ClaimType } from './model.ts';
import type { SqlQueryable } from '../store/sql.ts';

/** This module, for SqlClient.transactionScript. */
export const SUBMIT_WRITE_MODULE = import.meta.url;

/** One submission of the group: who sends it, the claim, and its already stored evidence files. */
export interface GroupItem {
  tenantId: string;
  keyId: string;
  claim: { orderId: string; type: ClaimType; reason: string; amount: number };
  files: { sha256: string; size: number; filename: string; contentType?: string; width: number; height: number; format: string }[];
}

/** Each item's outcome: its new claim id, or the typed refusal that left it out of the group. */
export type GroupOutcome = { ok: true; id: string } | { ok: false; status: number; code: string; message: string };

const SUBMIT_WRITE = `SELECT submit_write(${Array.from({ length: 38 }, (_, i) => `$${i + 1}`).join(', ')})`;

/**
 * Writes a group of claims in the open transaction (migration 2's functions: `submit_read`
 * locks the audit head and reads the orders, `submit_write` writes everything); returns each
 * item's outcome. A refused item changes nothing; a database error rolls back the group.
 */
export async function writeClaimGroup(tx: SqlQueryable, group: GroupItem[]): Promise<GroupOutcome[]> {
  const row = (await tx.query<{ head_seq: string | number; head_hash: string; order_rows: unknown }>(
    'SELECT * FROM submit_read($1, $2)',
    [group.map((g) => g.tenantId), group.map((g) => g.claim.orderId)],
  )).rows[0]!;
  const orderRows: any[] = typeof row.order_rows === 'string' ? JSON.parse(row.order_rows) : (row.order_rows as any[]);
  const orders = new Map(orderRows.map((o) => [`${o.tenant_id}\u0000${o.id}`, o]));

  let prev: { seq: number | string; hash: string } = { seq: row.head_seq, hash: row.head_hash };
  const outcomes: GroupOutcome[] = [];
  const refuse = (e: ServiceError) => outcomes.push({ ok: false, status: e.status, code: e.code, message: e.message });
  const claims: unknown[][] = Array.from({ length: 10 }, () => []);
  const media: unknown[][] = Array.from({ length: 11 }, () => []);
  const audit: unknown[][] = Array.from({ length: 11 }, () => []);
  const analyze: unknown[][] = [[], []];
  const hooks: unknown[][] = [[], []];
  let last: AuditEntry | undefined;
  for (const { tenantId, keyId, claim: c, files } of group) {
    const o = orders.get(`${tenantId}\u0000${c.orderId}`);
    if (!o) {
      refuse(notFound('order'));
      continue;
    }
    if (c.amount > Number(o.amount)) {
      refuse(invalid(`the claimed amount ${c.amount} is above the order amount ${Number(o.amount)}`));
      continue;
    }
    const id = newId('clm');
    const entry = buildAuditEntry(prev, {
      tenantId,
      claimId: id,
      actor: keyId,
      action: 'claim.submitted',
      fromState: null,
      toState: 'submitted',
      data: { orderId: o.id, type: c.type, amount: c.amount, evidence: files.map((f) => f.sha256) },
    });
    prev = entry;
    last = entry;
    [id, tenantId, o.id, o.merchant_id, o.buyer_id, o.sku, c.type, c.reason, c.amount, o.currency].forEach((v, i) => claims[i]!.push(v));
    for (const f of files) {
      [newId('med'), tenantId, o.merchant_id, id, f.sha256, f.size, f.filename, f.contentType ?? null, f.width, f.height, f.format].forEach((v, i) => media[i]!.push(v));
    }
    auditParams(entry).forEach((v, i) => audit[i]!.push(v));
    analyze[0]!.push(JSON.stringify({ claimId: id, round: 1 }));
    analyze[1]!.push(`analyze:${id}:1`);
    for (const e of (o.endpoints ?? []) as string[]) {
      const event = { id: newId('evt'), type: 'claim.state_changed', createdAt: new Date().toISOString(), data: { claimId: id, from: null, to: 'submitted', actor: keyId, merchantId: o.merchant_id, orderId: o.id } };
      hooks[0]!.push(e);
      hooks[1]!.push(JSON.stringify({ endpointId: e, event }));
    }
    outcomes.push({ ok: true, id });
  }
  if (!last) return outcomes;
  await tx.query(SUBMIT_WRITE, [...claims, ...media, ...audit, last.seq, last.hash, ...analyze, ...hooks]);
  return outcomes;
}

/** The message of the error that rolls a rehearsal back (rehearseClaimGroup). */
export const REHEARSAL_ROLLBACK = 'claimlens warm-up rehearsal: rolled back';

/**
 * A group write that leaves nothing behind, for the warm-up before the server takes traffic
 * (src/http/warm-up.ts): in one transaction it adds a tenant and an order of its own, writes
 * `size` claims for it through writeClaimGroup (the same statements, functions and plans as
 * real groups), then throws REHEARSAL_ROLLBACK, so the transaction rolls back: no row, no audit
 * entry and no job survive, and the audit head it locked is released unchanged.
 */
export async function rehearseClaimGroup(tx: SqlQueryable, size: number): Promise<never> {
  const tenantId = `_warmup_${newId('t')}`;
  await tx.query('INSERT INTO tenants (id, name) VALUES ($1, $1)', [tenantId]);
  await tx.query("INSERT INTO orders (tenant_id, id, buyer_id, merchant_id, sku, amount, currency) VALUES ($1, 'o', 'b', 'm', 's', 1000, 'CNY')", [tenantId]);
  const group: GroupItem[] = Array.from({ length: size }, () => ({
    tenantId,
    keyId: 'warm-up',
    claim: { orderId: 'o', type: 'refund_only', reason: 'warm-up', amount: 10 },
    files: [{ sha256: randomBytes(32).toString('hex'), size: 300_000, filename: 'w.jpg', contentType: 'image/jpeg', width: 1600, height: 1200, format: 'jpeg' }],
  }));
  const outcomes = await writeClaimGroup(tx, group);
  if (outcomes.some((o) => !o.ok)) throw new Error(`warm-up rehearsal refused: ${JSON.stringify(outcomes.find((o) => !o.ok))}`);
  throw new Error(REHEARSAL_ROLLBACK);
}
