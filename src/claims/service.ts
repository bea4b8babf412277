// The claims service: tenants and keys, SKU reference media, orders, claims and their
// workflow (analysis, policy, merchant window, review, more evidence), the audit chain and
// webhook events. Every change commits together with its audit entry and the jobs it
// starts, so a crash never leaves a claim without its next step.

import { createHash, randomBytes, randomInt } from 'node:crypto';
import { hammingDistance } from '../forensics/pdq/index.ts';
import type { ImageReport, ReferenceMedia, ReuseLookup } from '../forensics/types.ts';
import { ENGINE_VERSION } from '../forensics/engine.ts';
import type { AnalysisPool } from '../jobs/pool.ts';
import { enqueue, type Job } from '../jobs/queue.ts';
import type { JobHandler } from '../jobs/runner.ts';
import type { Store } from '../store/index.ts';
import { SWEEP_TASK, scheduleNextSweep, sweepOrphanBlobs, type BlobSweepReport } from '../store/blob-sweep.ts';
import type { SqlQueryable } from '../store/sql.ts';
import { appendAudit, auditParams, buildAuditEntry, rowToEntry, type AuditEntry } from './audit.ts';
import { ServiceError, conflict, forbidden, invalid, notFound } from './errors.ts';
import {
  DECISION_STATE,
  TRANSITIONS,
  type AcceptedFile,
  type ClaimState,
  type ClaimType,
  type Decision,
  type Principal,
  type Role,
} from './model.ts';
import { DEFAULT_POLICY, evaluatePolicy, type Policy } from './policy.ts';
import { isVideoFormat, mediaContentType } from '../forensics/video-intake.ts';
import { webhookUrlProblem } from './webhook-targets.ts';
import { deliverWebhook } from './webhooks.ts';

export { newId } from './ids.ts';
import { newId } from './ids.ts';
import { TIMESTAMP_YEARS, parseTimestamp } from './input-checks.ts';

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Distance at or under which two PDQ hashes are the same picture (PDQ's usual threshold). */
export const PDQ_SAME_PHOTO = 31;

export interface ServiceOptions {
  policy?: Policy;
  /** Time between scheduled orphan-blob sweeps, ms (0 or unset: the schedule ends here). */
  blobSweepIntervalMs?: number;
  /** Told the outcome of each scheduled orphan-blob sweep (`serve` logs it). */
  onBlobSweep?: (r: BlobSweepReport) => void;
  pool?: AnalysisPool;
  /** Called after a commit that queued jobs, so an in-process runner looks at once. */
  onJobsQueued?: () => void;
  /** Reuse-index lookup for the engine, scoped to one tenant (optional module). */
  reuseFor?: (tenantId: string) => ReuseLookup;
  /** Called in the analysis transaction with each analysed photo/reference hash, for the reuse index. */
  onHashes?: (tx: SqlQueryable, items: HashItem[]) => Promise<void>;
  webhookTimeoutMs?: number;
  /**
   * Let webhooks reach loopback and private addresses (default false: only public addresses,
   * checked at registration and at every connection; see webhook-targets.ts).
   */
  webhookAllowPrivate?: boolean;
}

export interface HashItem {
  ownerType: 'claim' | 'reference';
  ownerId: string;
  buyerId?: string;
  sku?: string;
  tenantId: string;
  hash: string;
}

export interface ClaimInput {
  orderId: string;
  type: ClaimType;
  reason: string;
  amount: number;
}

export interface OrderInput {
  id: string;
  buyerId: string;
  merchantId: string;
  sku: string;
  amount: number;
  currency: string;
  deliveredAt?: string | null;
  shipping?: Record<string, unknown> | null;
}

export interface ListFilter {
  state?: string;
  merchantId?: string;
  buyerId?: string;
  orderId?: string;
  cursor?: string;
  limit?: number;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface MutationResult {
  status: number;
  body: unknown;
}

export class ClaimsService {
  policy: Policy;
  constructor(
    readonly store: Store,
    readonly opts: ServiceOptions = {},
  ) {
    this.policy = opts.policy ?? DEFAULT_POLICY;
  }

  get db() {
    return this.store.db;
  }

  // ---- tenants and keys -------------------------------------------------------------

  async ensureTenant(id: string, name = id): Promise<void> {
    await this.db.query('INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [id, name]);
  }

  async createApiKey(tenantId: string, role: Role, merchantId?: string | null, label?: string): Promise<{ id: string; key: string }> {
    if (!['platform', 'merchant', 'reviewer'].includes(role)) throw invalid(`role must be platform, merchant or reviewer`);
    if (role === 'merchant' && !merchantId) throw invalid('a merchant key needs a merchant id');
    if (role !== 'merchant' && merchantId) throw invalid('only merchant keys carry a merchant id');
    await this.ensureTenant(tenantId);
    const id = newId('key');
    const key = `clk_${randomBytes(24).toString('base64url')}`;
    await this.db.transaction(async (tx) => {
      await tx.query('INSERT INTO api_keys (id, tenant_id, role, merchant_id, key_hash, label) VALUES ($1,$2,$3,$4,$5,$6)', [
        id,
        tenantId,
        role,
        merchantId ?? null,
        hashKey(key),
        label ?? null,
      ]);
      await appendAudit(tx, { tenantId, actor: 'admin', action: 'api_key.created', data: { keyId: id, role, merchantId: merchantId ?? null } });
    });
    return { id, key };
  }

  /** The tenant's keys (never their secrets): a platform key sees every key of its tenant. */
  async listApiKeys(p: Principal | { admin: true; tenantId?: string }): Promise<{ items: unknown[] }> {
    const tenant = p.tenantId;
    if (!('admin' in p) && p.role !== 'platform') throw forbidden('keys are managed by the platform');
    const r = await this.db.query(
      `SELECT id, tenant_id, role, merchant_id, label, created_at, revoked_at FROM api_keys
       WHERE ($1::text IS NULL OR tenant_id = $1) ORDER BY tenant_id, created_at, id`,
      [tenant ?? null],
    );
    return {
      items: r.rows.map((k: any) => ({
        id: k.id,
        tenantId: k.tenant_id,
        role: k.role,
        merchantId: k.merchant_id,
        label: k.label,
        createdAt: iso(k.created_at),
        revokedAt: iso(k.revoked_at),
      })),
    };
  }

  /**
   * Revokes a key: it stops working at once in this process and within KEY_CACHE_MS in other
   * processes. A platform key may revoke keys of its own tenant (itself included); the
   * loopback admin (CLI) any key. Revoking a revoked key changes nothing and says when it was.
   */
  async revokeApiKey(p: Principal | { admin: true }, keyId: string): Promise<{ id: string; revokedAt: string | null; alreadyRevoked: boolean }> {
    if (!('admin' in p) && p.role !== 'platform') throw forbidden('keys are managed by the platform');
    const out = await this.db.transaction(async (tx) => {
      const k = (await tx.query('SELECT id, tenant_id, revoked_at FROM api_keys WHERE id = $1 FOR UPDATE', [keyId])).rows[0];
      // another tenant's key id is answered exactly like an unknown one
      if (!k || (!('admin' in p) && k.tenant_id !== p.tenantId)) throw notFound('key');
      if (k.revoked_at) return { id: k.id, revokedAt: iso(k.revoked_at), alreadyRevoked: true };
      const r = await tx.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1 RETURNING revoked_at', [keyId]);
      await appendAudit(tx, { tenantId: k.tenant_id, actor: 'admin' in p ? 'admin' : p.keyId, action: 'api_key.revoked', data: { keyId } });
      return { id: k.id as string, revokedAt: iso(r.rows[0].revoked_at), alreadyRevoked: false };
    });
    for (const [h, hit] of this.keyCache) if (hit.p.keyId === keyId) this.keyCache.delete(h);
    return out;
  }

  /**
   * A key that exists only in this process's memory, never in the database: the warm-up
   * before the server listens (src/http/warm-up.ts) sends its requests with one, so that
   * warming leaves no key row and no audit entry behind. Its secret is random and never
   * leaves the process; `drop()` ends it (and the server does so before it takes traffic).
   */
  admitTransientKey(p: Omit<Principal, 'keyId'>): { key: string; keyId: string; drop(): void } {
    const key = `clk_${randomBytes(24).toString('base64url')}`;
    const keyId = `transient_${randomBytes(6).toString('hex')}`;
    const h = hashKey(key);
    this.keyCache.set(h, { p: { ...p, keyId }, until: Number.POSITIVE_INFINITY });
    return { key, keyId, drop: () => void this.keyCache.delete(h) };
  }

  // Known keys are remembered for a short while so a busy client costs no key lookup per
  // request; a revoked key (revoked_at set in the database) stops working within this time.
  private keyCache = new Map<string, { p: Principal; until: number }>();
  static readonly KEY_CACHE_MS = 30_000;

  async authenticate(key: string): Promise<Principal | null> {
    const h = hashKey(key);
    const hit = this.keyCache.get(h);
    if (hit && hit.until > Date.now()) return hit.p;
    const r = await this.db.query(
      'SELECT id, tenant_id, role, merchant_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL',
      [h],
    );
    const k = r.rows[0];
    if (!k) {
      this.keyCache.delete(h);
      return null;
    }
    const p: Principal = { keyId: k.id, tenantId: k.tenant_id, role: k.role, merchantId: k.merchant_id };
    if (this.keyCache.size > 10_000) this.keyCache.clear();
    this.keyCache.set(h, { p, until: Date.now() + ClaimsService.KEY_CACHE_MS });
    return p;
  }

  // ---- media --------------------------------------------------------------------------

  /** Writes the files' bytes to the blob store (before the transaction that references them). */
  async putBlobs(files: AcceptedFile[]): Promise<void> {
    // f.sha256 was computed over these bytes by upload intake (in a worker thread).
    for (const f of files) {
      if (f.stored) continue;
      if (!f.bytes) throw new Error(`file ${f.filename}: neither stored by intake nor given as bytes`);
      await this.store.blobs.put(f.bytes, f.sha256);
    }
  }

  private async insertMedia(
    tx: SqlQueryable,
    p: { tenantId: string; merchantId: string | null; ownerType: string; ownerId: string; kind: string; round?: number },
    files: AcceptedFile[],
  ): Promise<string[]> {
    const ids: string[] = [];
    for (const f of files) {
      await tx.query('INSERT INTO blobs (sha256, size) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING', [f.sha256, f.size]);
      const id = newId('med');
      await tx.query(
        `INSERT INTO media (id, tenant_id, merchant_id, owner_type, owner_id, kind, round, blob_sha256, filename, content_type, width, height, format)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)`,
        [id, p.tenantId, p.merchantId, p.ownerType, p.ownerId, p.kind, p.round ?? 1, f.sha256, f.filename, f.contentType ?? null, f.width, f.height, f.format],
      );
      ids.push(id);
    }
    return ids;
  }

  /** One media file's bytes, if the caller may see it. */
  async getMedia(p: Principal, id: string): Promise<{ bytes: Buffer; contentType: string; filename: string }> {
    const r = await this.db.query('SELECT * FROM media WHERE id = $1 AND tenant_id = $2', [id, p.tenantId]);
    const m = r.rows[0];
    if (!m || (p.role === 'merchant' && m.merchant_id !== p.merchantId)) throw notFound('media');
    // The type is the one the bytes were found to be, not one a client declared: rows written
    // before session 15 may hold a declared text/html, which a browser would render.
    const contentType = mediaContentType(m.format) ?? 'application/octet-stream';
    return { bytes: await this.store.blobs.get(m.blob_sha256), contentType, filename: m.filename };
  }

  // ---- SKUs and orders ----------------------------------------------------------------

  private merchantFor(p: Principal, requested: string | undefined | null): string {
    if (p.role === 'merchant') {
      if (requested && requested !== p.merchantId) throw forbidden('a merchant key acts for its own merchant only');
      return p.merchantId!;
    }
    if (p.role !== 'platform') throw forbidden('this key cannot do that');
    if (!requested) throw invalid('merchantId is required');
    return requested;
  }

  async addSkuReferences(tx: SqlQueryable, p: Principal, sku: string, merchantIdParam: string | undefined, files: AcceptedFile[], kind: ReferenceMedia['kind'] = 'listing'): Promise<MutationResult> {
    const merchantId = this.merchantFor(p, merchantIdParam);
    if (!sku || sku.length > 200) throw invalid('bad sku');
    if (files.length === 0) throw invalid('at least one file part is required');
    const ids = await this.insertMedia(tx, { tenantId: p.tenantId, merchantId, ownerType: 'sku', ownerId: sku, kind }, files);
    await appendAudit(tx, { tenantId: p.tenantId, actor: p.keyId, action: 'sku.references_added', data: { merchantId, sku, media: ids, sha256: files.map((f) => f.sha256) } });
    return { status: 201, body: { sku, merchantId, references: ids.map((id, i) => ({ id, sha256: files[i]!.sha256, filename: files[i]!.filename })) } };
  }

  async listSkuReferences(p: Principal, sku: string, merchantIdParam?: string): Promise<unknown> {
    const merchantId = p.role === 'merchant' ? p.merchantId! : merchantIdParam;
    if (!merchantId) throw invalid('merchantId is required');
    const r = await this.db.query(
      `SELECT id, kind, blob_sha256, filename, width, height, format, created_at FROM media
       WHERE tenant_id = $1 AND owner_type = 'sku' AND merchant_id = $2 AND owner_id = $3 ORDER BY created_at, id`,
      [p.tenantId, merchantId, sku],
    );
    return { sku, merchantId, references: r.rows.map(mediaView) };
  }

  async createOrder(tx: SqlQueryable, p: Principal, o: OrderInput, files: AcceptedFile[]): Promise<MutationResult> {
    const merchantId = this.merchantFor(p, o.merchantId);
    const deliveredAt = o.deliveredAt ? parseTimestamp(o.deliveredAt) : null;
    if (deliveredAt === undefined) throw invalid(`deliveredAt must be an ISO 8601 date or date-time (such as 2026-12-05T08:00:00+08:00) in the years ${TIMESTAMP_YEARS.min}–${TIMESTAMP_YEARS.max}`);
    const r = await tx.query(
      `INSERT INTO orders (tenant_id, id, buyer_id, merchant_id, sku, amount, currency, delivered_at, shipping)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (tenant_id, id) DO NOTHING RETURNING id`,
      [p.tenantId, o.id, o.buyerId, merchantId, o.sku, o.amount, o.currency, deliveredAt?.toISOString() ?? null, o.shipping ? JSON.stringify(o.shipping) : null],
    );
    if (r.rows.length === 0) throw conflict('order_exists', `order ${o.id} already exists`);
    const ids = files.length ? await this.insertMedia(tx, { tenantId: p.tenantId, merchantId, ownerType: 'order', ownerId: o.id, kind: 'packing' }, files) : [];
    await appendAudit(tx, { tenantId: p.tenantId, actor: p.keyId, action: 'order.created', data: { orderId: o.id, merchantId, media: ids } });
    return { status: 201, body: await this.orderView(tx, p.tenantId, o.id) };
  }

  private async orderView(q: SqlQueryable, tenantId: string, id: string): Promise<unknown> {
    const o = (await q.query('SELECT * FROM orders WHERE tenant_id = $1 AND id = $2', [tenantId, id])).rows[0];
    const media = (await q.query(`SELECT * FROM media WHERE tenant_id = $1 AND owner_type = 'order' AND owner_id = $2 ORDER BY created_at, id`, [tenantId, id])).rows;
    return {
      id: o.id,
      buyerId: o.buyer_id,
      merchantId: o.merchant_id,
      sku: o.sku,
      amount: Number(o.amount),
      currency: o.currency,
      deliveredAt: iso(o.delivered_at),
      shipping: o.shipping ?? null,
      references: media.map(mediaView),
      createdAt: iso(o.created_at),
    };
  }

  async getOrder(p: Principal, id: string): Promise<unknown> {
    const o = (await this.db.query('SELECT merchant_id FROM orders WHERE tenant_id = $1 AND id = $2', [p.tenantId, id])).rows[0];
    if (!o || (p.role === 'merchant' && o.merchant_id !== p.merchantId)) throw notFound('order');
    return this.orderView(this.db, p.tenantId, id);
  }

  // ---- claims -------------------------------------------------------------------------

  /**
   * Accepts a claim in two statements (the submission is the hot path): one reads the order
   * and locks the audit head, one writes the claim, its blobs and media rows, the audit entry,
   * the head, the analysis job and the webhook jobs together.
   */
  async submitClaim(tx: SqlQueryable, p: Principal, c: ClaimInput, files: AcceptedFile[]): Promise<MutationResult> {
    if (p.role !== 'platform') throw forbidden('claims are submitted by the platform');
    if (files.length === 0) throw invalid('at least one evidence file is required');
    const o = (
      await tx.query(
        `SELECT o.id, o.merchant_id, o.buyer_id, o.sku, o.amount, o.currency, h.seq AS head_seq, h.hash AS head_hash,
                ARRAY(SELECT w.id FROM webhook_endpoints w WHERE w.tenant_id = $1 AND w.active ORDER BY w.id) AS endpoints
         FROM orders o CROSS JOIN audit_head h
         WHERE o.tenant_id = $1 AND o.id = $2 AND h.id = 1
         FOR UPDATE OF h`,
        [p.tenantId, c.orderId],
      )
    ).rows[0];
    if (!o) throw notFound('order');
    if (c.amount > Number(o.amount)) throw invalid(`the claimed amount ${c.amount} is above the order amount ${Number(o.amount)}`);
    const id = newId('clm');
    const entry = buildAuditEntry(
      { seq: o.head_seq, hash: o.head_hash },
      {
        tenantId: p.tenantId,
        claimId: id,
        actor: p.keyId,
        action: 'claim.submitted',
        fromState: null,
        toState: 'submitted',
        data: { orderId: o.id, type: c.type, amount: c.amount, evidence: files.map((f) => f.sha256) },
      },
    );
    const endpoints: string[] = o.endpoints ?? [];
    const event = { id: newId('evt'), type: 'claim.state_changed', createdAt: new Date().toISOString(), data: { claimId: id, from: null, to: 'submitted', actor: p.keyId, merchantId: o.merchant_id, orderId: o.id } };
    const params: unknown[] = [
      id, p.tenantId, o.id, o.merchant_id, o.buyer_id, o.sku, c.type, c.reason, c.amount, o.currency, // $1–$10
      files.map((f) => f.sha256), files.map((f) => f.size), // $11, $12
      files.map(() => newId('med')), files.map((f) => f.filename), files.map((f) => f.contentType ?? null), files.map((f) => f.width), files.map((f) => f.height), files.map((f) => f.format), // $13–$18
      ...auditParams(entry), // $19–$29
      JSON.stringify({ claimId: id, round: 1 }), `analyze:${id}:1`, // $30, $31
      endpoints, JSON.stringify(event), // $32, $33
    ];
    await tx.query(
      `WITH c AS (
         INSERT INTO claims (id, tenant_id, order_id, merchant_id, buyer_id, sku, type, reason, amount, currency, state)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,'submitted')),
       b AS (
         INSERT INTO blobs (sha256, size) SELECT DISTINCT * FROM unnest($11::text[], $12::bigint[]) ON CONFLICT (sha256) DO NOTHING),
       m AS (
         INSERT INTO media (id, tenant_id, merchant_id, owner_type, owner_id, kind, round, blob_sha256, filename, content_type, width, height, format)
         SELECT u.mid, $2, $4, 'claim', $1, 'evidence', 1, u.sha, u.fname, u.ctype, u.w, u.h, u.fmt
         FROM unnest($13::text[], $11::text[], $14::text[], $15::text[], $16::int[], $17::int[], $18::text[]) AS u(mid, sha, fname, ctype, w, h, fmt)),
       a AS (
         INSERT INTO audit_log (seq, tenant_id, claim_id, at, actor, action, from_state, to_state, data, prev_hash, hash)
         VALUES ($19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29)),
       h AS (
         UPDATE audit_head SET seq = $19, hash = $29 WHERE id = 1),
       j AS (
         INSERT INTO jobs (task, payload, max_attempts, dedupe_key) VALUES ('analyze_claim', $30, 3, $31) ON CONFLICT (dedupe_key) DO NOTHING),
       w AS (
         INSERT INTO jobs (task, payload, max_attempts)
         SELECT 'deliver_webhook', jsonb_build_object('endpointId', e, 'event', $33::jsonb), 8 FROM unnest($32::text[]) AS e)
       SELECT 1`,
      params,
    );
    return { status: 202, body: { id, state: 'submitted' } };
  }

  /** Loads a claim row the principal may see, or throws not_found (never forbidden: ids do not leak). */
  private async visibleClaim(q: SqlQueryable, p: Principal, id: string, lock = false): Promise<any> {
    const r = await q.query(`SELECT * FROM claims WHERE id = $1 AND tenant_id = $2${lock ? ' FOR UPDATE' : ''}`, [id, p.tenantId]);
    const c = r.rows[0];
    if (!c || (p.role === 'merchant' && c.merchant_id !== p.merchantId)) throw notFound('claim');
    return c;
  }

  async getClaim(p: Principal, id: string): Promise<unknown> {
    const c = await this.visibleClaim(this.db, p, id);
    return this.claimView(this.db, c, p);
  }

  private async claimView(q: SqlQueryable, c: any, p: Principal): Promise<unknown> {
    const [media, responses, decisions] = await Promise.all([
      q.query(`SELECT * FROM media WHERE tenant_id = $1 AND ((owner_type = 'claim' AND owner_id = $2) OR (owner_type = 'response' AND owner_id IN (SELECT id FROM merchant_responses WHERE claim_id = $2))) ORDER BY created_at, id`, [c.tenant_id, c.id]),
      q.query('SELECT * FROM merchant_responses WHERE claim_id = $1 ORDER BY created_at, id', [c.id]),
      q.query('SELECT * FROM decisions WHERE claim_id = $1 ORDER BY created_at, id', [c.id]),
    ]);
    const evidence = media.rows.filter((m: any) => m.owner_type === 'claim');
    const analysis = parseJson(c.analysis);
    // The detail view is the list summary (ids, amount, risk, deadlines, times) plus what only
    // one claim's page needs.
    return {
      ...claimSummary({ ...c, verdicts: imageVerdicts(analysis) }),
      reason: c.reason,
      round: c.round,
      evidence: evidence.map((m: any) => ({ ...mediaView(m), round: m.round })),
      evidenceRequest:
        c.state === 'more_evidence_requested' && c.evidence_code
          ? {
              code: c.evidence_code,
              instructions: {
                en: `Take a new photo of the item with the code ${c.evidence_code} written on paper beside it.`,
                zh: `请在商品旁放一张手写“${c.evidence_code}”的纸条，重新拍摄一张照片上传。`,
              },
            }
          : null,
      analysis,
      policy: parseJson(c.policy),
      responses: responses.rows.map((r: any) => ({
        id: r.id,
        merchantId: r.merchant_id,
        text: r.text,
        evidence: media.rows.filter((m: any) => m.owner_type === 'response' && m.owner_id === r.id).map(mediaView),
        createdAt: iso(r.created_at),
      })),
      decisions: decisions.rows.map((d: any) => ({ id: d.id, decision: d.decision, reason: d.reason, actor: d.actor, createdAt: iso(d.created_at) })),
    };
  }

  async listClaims(p: Principal, f: ListFilter, extraStates?: string[]): Promise<Page<unknown>> {
    const where: string[] = ['tenant_id = $1'];
    const params: unknown[] = [p.tenantId];
    const add = (sql: string, v: unknown) => {
      params.push(v);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (p.role === 'merchant') add('merchant_id = ?', p.merchantId);
    if (f.merchantId) add('merchant_id = ?', f.merchantId);
    if (f.state) add('state = ?', f.state);
    if (extraStates) add('state = ANY(?::text[])', extraStates);
    if (f.buyerId) add('buyer_id = ?', f.buyerId);
    if (f.orderId) add('order_id = ?', f.orderId);
    const limit = Math.min(Math.max(f.limit ?? 50, 1), 200);
    if (f.cursor) {
      const cur = decodeCursor(f.cursor);
      params.push(cur.t, cur.id);
      where.push(`(created_at, id) < ($${params.length - 1}::timestamptz, $${params.length})`);
    }
    params.push(limit + 1);
    const r = await this.db.query(
      `SELECT id, state, order_id, merchant_id, buyer_id, sku, type, amount, currency, risk, merchant_deadline, evidence_deadline, created_at, created_at::text AS cts, updated_at,
              CASE WHEN jsonb_typeof(analysis->'images') = 'array'
                   THEN ARRAY(SELECT COALESCE(i->>'verdict', '') FROM jsonb_array_elements(analysis->'images') AS i) END AS verdicts
       FROM claims WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
    const rows = r.rows.slice(0, limit);
    const last = rows[rows.length - 1];
    return {
      items: rows.map(claimSummary),
      nextCursor: r.rows.length > limit && last ? encodeCursor(last.cts, last.id) : null,
    };
  }

  async reviewQueue(p: Principal, f: ListFilter): Promise<Page<unknown>> {
    if (p.role === 'merchant') throw forbidden('the review queue is for reviewers and the platform');
    const queued = ['in_review', 'escalated', 'awaiting_merchant'];
    // a filter within the queue, not a way around it (GET /v1/claims lists every state)
    if (f.state && !queued.includes(f.state)) throw invalid(`the review queue holds ${queued.join(', ')} claims; GET /v1/claims lists the others`);
    const states = f.state ? [f.state] : queued;
    const page = await this.listClaims(p, { ...f, state: undefined }, states);
    return page;
  }

  async respond(tx: SqlQueryable, p: Principal, id: string, text: string, files: AcceptedFile[]): Promise<MutationResult> {
    if (p.role !== 'merchant' && p.role !== 'platform') throw forbidden('responses come from the merchant');
    const c = await this.visibleClaim(tx, p, id, true);
    const open: ClaimState[] = ['awaiting_merchant', 'in_review', 'escalated', 'more_evidence_requested'];
    if (!open.includes(c.state)) throw conflict('invalid_state', `the claim is ${c.state}; a response is not accepted now`);
    const rid = newId('rsp');
    await tx.query('INSERT INTO merchant_responses (id, tenant_id, claim_id, merchant_id, text) VALUES ($1,$2,$3,$4,$5)', [rid, c.tenant_id, id, c.merchant_id, text]);
    const media = await this.insertMedia(tx, { tenantId: c.tenant_id, merchantId: c.merchant_id, ownerType: 'response', ownerId: rid, kind: 'response' }, files);
    const data = { responseId: rid, media, sha256: files.map((f) => f.sha256) };
    if (c.state === 'awaiting_merchant') {
      await this.transition(tx, c, 'in_review', p.keyId, 'merchant.responded', data);
    } else {
      await appendAudit(tx, { tenantId: c.tenant_id, claimId: id, actor: p.keyId, action: 'merchant.responded', fromState: c.state, toState: c.state, data });
    }
    return { status: 201, body: { id: rid, claimId: id, state: c.state === 'awaiting_merchant' ? 'in_review' : c.state } };
  }

  async decide(tx: SqlQueryable, p: Principal, id: string, decision: Decision, reason: string): Promise<MutationResult> {
    if (p.role !== 'reviewer' && p.role !== 'platform') throw forbidden('decisions are made by reviewers');
    if (!reason.trim()) throw invalid('a reason is required');
    const c = await this.visibleClaim(tx, p, id, true);
    if (c.state !== 'in_review' && c.state !== 'escalated') {
      throw conflict('invalid_state', `the claim is ${c.state}; decisions are taken in review (in_review or escalated)`);
    }
    const to = DECISION_STATE[decision];
    if (to === c.state) throw conflict('invalid_state', `the claim is already ${c.state}`);
    const did = newId('dec');
    await tx.query('INSERT INTO decisions (id, tenant_id, claim_id, actor, decision, reason) VALUES ($1,$2,$3,$4,$5,$6)', [did, c.tenant_id, id, p.keyId, decision, reason]);
    const extra = to === 'more_evidence_requested' ? await this.openEvidenceRequest(tx, c) : {};
    await this.transition(tx, c, to, p.keyId, `decision.${decision}`, { decisionId: did, reason }, extra);
    return { status: 201, body: { id: did, claimId: id, decision, state: to } };
  }

  /** The buyer's new photo (with the one-time code), sent by the platform. */
  async addEvidence(tx: SqlQueryable, p: Principal, id: string, files: AcceptedFile[]): Promise<MutationResult> {
    if (p.role !== 'platform') throw forbidden('buyer evidence comes through the platform');
    if (files.length === 0) throw invalid('at least one evidence file is required');
    const c = await this.visibleClaim(tx, p, id, true);
    if (c.state !== 'more_evidence_requested') throw conflict('invalid_state', `the claim is ${c.state}; no evidence was requested`);
    const round = c.round + 1;
    const media = await this.insertMedia(tx, { tenantId: c.tenant_id, merchantId: c.merchant_id, ownerType: 'claim', ownerId: id, kind: 'evidence', round }, files);
    await tx.query('UPDATE claims SET round = $2 WHERE id = $1', [id, round]);
    await this.transition(tx, { ...c, round }, 'submitted', p.keyId, 'buyer.evidence_added', { round, media, sha256: files.map((f) => f.sha256) });
    await enqueue(tx, 'analyze_claim', { claimId: id, round }, { dedupeKey: `analyze:${id}:${round}`, maxAttempts: 3 });
    return { status: 202, body: { id, state: 'submitted', round } };
  }

  async claimAudit(p: Principal, id: string): Promise<unknown> {
    await this.visibleClaim(this.db, p, id);
    const r = await this.db.query('SELECT * FROM audit_log WHERE claim_id = $1 ORDER BY seq', [id]);
    return { claimId: id, entries: r.rows.map(rowToEntry).map(auditView) };
  }

  // ---- transitions, deadlines and events -----------------------------------------------

  private async openEvidenceRequest(tx: SqlQueryable, c: any): Promise<Record<string, unknown>> {
    let code = '';
    for (let i = 0; i < this.policy.moreEvidence.codeLength; i++) code += String(randomInt(10));
    const deadline = new Date(Date.now() + this.policy.moreEvidence.windowHours * 3_600_000);
    // Evidence can be requested more than once in a round (policy, then a reviewer): one job per deadline.
    await enqueue(tx, 'fire_deadline', { claimId: c.id, kind: 'evidence', round: c.round, deadline: deadline.toISOString() }, { runAt: deadline, dedupeKey: `deadline:evidence:${c.id}:${c.round}:${deadline.getTime()}`, maxAttempts: 10 });
    return { evidence_code: code, evidence_deadline: deadline.toISOString() };
  }

  private async openMerchantWindow(tx: SqlQueryable, c: any): Promise<Record<string, unknown>> {
    const deadline = new Date(Date.now() + this.policy.merchantResponseWindowHours * 3_600_000);
    await enqueue(tx, 'fire_deadline', { claimId: c.id, kind: 'merchant', round: c.round, deadline: deadline.toISOString() }, { runAt: deadline, dedupeKey: `deadline:merchant:${c.id}:${c.round}:${deadline.getTime()}`, maxAttempts: 10 });
    return { merchant_deadline: deadline.toISOString() };
  }

  /** Moves a locked claim row to `to`, with its audit entry and webhook events, in tx. */
  private async transition(tx: SqlQueryable, c: any, to: ClaimState, actor: string, action: string, data: Record<string, unknown>, sets: Record<string, unknown> = {}): Promise<void> {
    const from = c.state as ClaimState;
    if (!TRANSITIONS[from].includes(to)) throw conflict('invalid_state', `a claim cannot go from ${from} to ${to}`);
    const cols = Object.keys(sets);
    const params: unknown[] = [c.id, to, ...cols.map((k) => sets[k])];
    await tx.query(
      `UPDATE claims SET state = $2, updated_at = now()${cols.map((k, i) => `, ${k} = $${i + 3}`).join('')} WHERE id = $1`,
      params,
    );
    await appendAudit(tx, { tenantId: c.tenant_id, claimId: c.id, actor, action, fromState: from, toState: to, data });
    await this.emitEvent(tx, c.tenant_id, { claimId: c.id, from, to, actor, merchantId: c.merchant_id, orderId: c.order_id });
  }

  private async emitEvent(tx: SqlQueryable, tenantId: string, e: { claimId: string; from: string | null; to: string; actor: string; merchantId: string; orderId: string }): Promise<void> {
    const eps = await tx.query('SELECT id FROM webhook_endpoints WHERE tenant_id = $1 AND active', [tenantId]);
    if (eps.rows.length === 0) return;
    const event = { id: newId('evt'), type: 'claim.state_changed', createdAt: new Date().toISOString(), data: e };
    for (const ep of eps.rows) {
      await enqueue(tx, 'deliver_webhook', { endpointId: ep.id, event }, { maxAttempts: 8 });
    }
  }

  // ---- webhooks -----------------------------------------------------------------------

  async createWebhook(tx: SqlQueryable, p: Principal, url: string, secret?: string): Promise<MutationResult> {
    if (p.role !== 'platform') throw forbidden('webhooks are managed by the platform');
    const problem = webhookUrlProblem(url, this.opts.webhookAllowPrivate ?? false);
    if (problem) throw new ServiceError(400, problem.code, problem.message);
    const id = newId('whk');
    const s = secret ?? `whsec_${randomBytes(24).toString('base64url')}`;
    await tx.query('INSERT INTO webhook_endpoints (id, tenant_id, url, secret) VALUES ($1,$2,$3,$4)', [id, p.tenantId, url, s]);
    await appendAudit(tx, { tenantId: p.tenantId, actor: p.keyId, action: 'webhook.created', data: { id, url } });
    return { status: 201, body: { id, url, secret: s } };
  }

  async listWebhooks(p: Principal): Promise<unknown> {
    if (p.role !== 'platform') throw forbidden('webhooks are managed by the platform');
    const r = await this.db.query('SELECT id, url, active, created_at FROM webhook_endpoints WHERE tenant_id = $1 ORDER BY created_at', [p.tenantId]);
    return { items: r.rows.map((w: any) => ({ id: w.id, url: w.url, active: w.active, createdAt: iso(w.created_at) })) };
  }

  /**
   * Stops an endpoint (platform): no new event is queued for it and deliveries already queued
   * are dropped when their turn comes. The row and its delivery log stay (audit trail).
   */
  async deleteWebhook(p: Principal, endpointId: string): Promise<{ id: string; active: false; alreadyInactive: boolean }> {
    if (p.role !== 'platform') throw forbidden('webhooks are managed by the platform');
    return this.db.transaction(async (tx) => {
      const ep = (await tx.query('SELECT id, active FROM webhook_endpoints WHERE id = $1 AND tenant_id = $2 FOR UPDATE', [endpointId, p.tenantId])).rows[0];
      if (!ep) throw notFound('webhook');
      if (!ep.active) return { id: ep.id, active: false as const, alreadyInactive: true };
      await tx.query('UPDATE webhook_endpoints SET active = false WHERE id = $1', [endpointId]);
      await appendAudit(tx, { tenantId: p.tenantId, actor: p.keyId, action: 'webhook.deleted', data: { id: endpointId } });
      return { id: ep.id as string, active: false as const, alreadyInactive: false };
    });
  }

  async listDeliveries(p: Principal, endpointId: string): Promise<unknown> {
    if (p.role !== 'platform') throw forbidden('webhooks are managed by the platform');
    const ep = (await this.db.query('SELECT id FROM webhook_endpoints WHERE id = $1 AND tenant_id = $2', [endpointId, p.tenantId])).rows[0];
    if (!ep) throw notFound('webhook');
    const r = await this.db.query('SELECT * FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY id', [endpointId]);
    return {
      items: r.rows.map((d: any) => ({
        eventId: d.event_id,
        eventType: d.event_type,
        attempt: d.attempt,
        ok: d.ok,
        statusCode: d.status_code,
        error: d.error,
        durationMs: d.duration_ms,
        at: iso(d.at),
      })),
    };
  }

  // ---- background jobs ------------------------------------------------------------------

  handlers(): Record<string, JobHandler> {
    return {
      analyze_claim: async (job) => {
        try {
          await this.runAnalysis(job);
        } catch (e) {
          // Out of attempts: people look at the claim instead of it waiting in `analysing` forever.
          if (job.attempts >= job.maxAttempts) await this.analysisFailed(job, e);
          else throw e;
        }
      },
      fire_deadline: (job) => this.fireDeadline(job),
      deliver_webhook: (job) => this.deliverWebhookJob(job),
      [SWEEP_TASK]: (job) => this.sweepBlobsJob(job),
    };
  }

  /**
   * A scheduled orphan-blob sweep (src/store/blob-sweep.ts). It queues the next one first, at
   * this process's interval rather than the one it was queued with: a changed
   * CLAIMLENS_BLOB_SWEEP_HOURS replaces the old schedule instead of running beside it, and 0
   * ends it.
   */
  private async sweepBlobsJob(_job: Job): Promise<void> {
    const interval = this.opts.blobSweepIntervalMs ?? 0;
    if (interval > 0) await scheduleNextSweep(this.db, interval);
    const r = await sweepOrphanBlobs(this.db, this.store.blobs);
    this.opts.onBlobSweep?.(r);
  }

  private async runAnalysis(job: Job): Promise<void> {
    const { claimId } = job.payload as { claimId: string; round: number };
    const started = await this.db.transaction(async (tx) => {
      const c = (await tx.query('SELECT * FROM claims WHERE id = $1 FOR UPDATE', [claimId])).rows[0];
      if (!c) return null;
      if (c.state === 'submitted') {
        await this.transition(tx, c, 'analysing', 'system', 'analysis.started', { job: job.id, attempt: job.attempts });
        return { ...c, state: 'analysing' };
      }
      // After a crash the claim is still analysing: run the analysis again.
      return c.state === 'analysing' ? c : null;
    });
    if (!started) return;
    const c = started;
    const pool = this.opts.pool;
    if (!pool) throw new Error('no analysis pool');
    const [mediaRows, order] = await Promise.all([
      this.db.query(`SELECT * FROM media WHERE tenant_id = $1 AND owner_type = 'claim' AND owner_id = $2 ORDER BY round, created_at, id`, [c.tenant_id, c.id]),
      this.db.query('SELECT * FROM orders WHERE tenant_id = $1 AND id = $2', [c.tenant_id, c.order_id]),
    ]);
    const refRows = (
      await this.db.query(
        `SELECT * FROM media WHERE tenant_id = $1 AND ((owner_type = 'sku' AND merchant_id = $2 AND owner_id = $3) OR (owner_type = 'order' AND owner_id = $4)) ORDER BY created_at, id`,
        [c.tenant_id, c.merchant_id, c.sku, c.order_id],
      )
    ).rows;
    const images = await Promise.all(
      mediaRows.rows.map(async (m: any) => ({
        file: m.filename || m.id,
        bytes: await this.store.blobs.get(m.blob_sha256),
        contentType: m.content_type ?? undefined,
        video: isVideoFormat(m.format),
      })),
    );
    const references = await Promise.all(
      refRows.map(async (m: any) => ({
        id: m.id,
        kind: (m.kind === 'packing' ? 'packing' : 'listing') as ReferenceMedia['kind'],
        filename: m.filename,
        bytes: await this.store.blobs.get(m.blob_sha256),
        video: isVideoFormat(m.format),
      })),
    );
    const o = order.rows[0];
    const result = await pool.analyze(
      { images, references, context: { claimId: c.id, buyerId: c.buyer_id ?? undefined, deliveredAt: o?.delivered_at ? new Date(o.delivered_at).toISOString() : undefined, uploadedAt: new Date(c.created_at).toISOString() }, hashes: true },
      this.opts.reuseFor?.(c.tenant_id),
    );
    const reports = result.reports;
    // Which photos are new in this round, and whether a new one copies a reference or an earlier photo.
    const newEvidenceProblems: string[] = [];
    if (c.round > 1) {
      const earlier = new Map<string, string>();
      mediaRows.rows.forEach((m: any, i: number) => {
        if (m.round < c.round && result.hashes[i]) earlier.set(`earlier photo ${m.filename || m.id}`, result.hashes[i]!);
      });
      refRows.forEach((m: any, i: number) => {
        if (result.referenceHashes[i]) earlier.set(`reference ${m.filename || m.id}`, result.referenceHashes[i]!);
      });
      mediaRows.rows.forEach((m: any, i: number) => {
        if (m.round !== c.round) return;
        const h = result.hashes[i];
        const shaDup = mediaRows.rows.some((o2: any) => o2.round < c.round && o2.blob_sha256 === m.blob_sha256) || refRows.some((r: any) => r.blob_sha256 === m.blob_sha256);
        if (shaDup) {
          newEvidenceProblems.push(`${m.filename || m.id}: the new photo is byte-identical to an earlier photo or a reference`);
          return;
        }
        if (!h) return;
        for (const [what, eh] of earlier) {
          const d = hammingDistance(h, eh);
          if (d <= PDQ_SAME_PHOTO) {
            newEvidenceProblems.push(`${m.filename || m.id}: the new photo is a copy of the ${what} (PDQ distance ${d})`);
            break;
          }
        }
      });
    }
    await this.db.transaction(async (tx) => {
      const cur = (await tx.query('SELECT * FROM claims WHERE id = $1 FOR UPDATE', [claimId])).rows[0];
      if (!cur || cur.state !== 'analysing') return;
      const risk = reports.reduce((m, r) => Math.max(m, r.risk ?? 0), 0);
      const buyer = await this.buyerRecord(tx, cur);
      const prevPolicy = parseJson(cur.policy) as { everBlocked?: boolean } | null;
      const previouslyBlocked = Boolean(prevPolicy?.everBlocked);
      const decision = evaluatePolicy(this.policy, { type: cur.type, amount: Number(cur.amount), images: reports, buyer, previouslyBlocked, newEvidenceProblems });
      const blockedNow = reports.some((r) => r.verdict && this.policy.blockingVerdicts.includes(r.verdict));
      const analysis = {
        engine: { name: 'claimlens', version: ENGINE_VERSION },
        round: cur.round,
        analysedAt: new Date().toISOString(),
        risk,
        images: reports,
        newEvidenceProblems,
      };
      const policy = { outcome: decision.outcome, reasons: decision.reasons, buyer, everBlocked: previouslyBlocked || blockedNow };
      await tx.query('UPDATE claims SET analysis = $2, risk = $3, policy = $4 WHERE id = $1', [claimId, JSON.stringify(analysis), risk, JSON.stringify(policy)]);
      const summary = { outcome: decision.outcome, reasons: decision.reasons, risk, verdicts: reports.map((r) => r.verdict ?? r.error?.code ?? null) };
      if (decision.outcome === 'auto_approve') {
        await this.transition(tx, cur, 'approved', 'policy', 'policy.auto_approved', summary);
      } else if (decision.outcome === 'request_more_evidence') {
        await this.transition(tx, cur, 'more_evidence_requested', 'policy', 'policy.more_evidence_requested', summary, await this.openEvidenceRequest(tx, cur));
      } else {
        await this.transition(tx, cur, 'awaiting_merchant', 'policy', 'policy.merchant_window_opened', summary, await this.openMerchantWindow(tx, cur));
      }
      if (this.opts.onHashes) {
        const items: HashItem[] = [];
        mediaRows.rows.forEach((_m: any, i: number) => {
          const h = result.hashes[i];
          if (h) items.push({ ownerType: 'claim', ownerId: c.id, buyerId: c.buyer_id, sku: c.sku, tenantId: c.tenant_id, hash: h });
          // the photo inside a screenshot, so that the photo itself sent later is matched too
          for (const r of result.regionHashes?.[i] ?? []) items.push({ ownerType: 'claim', ownerId: c.id, buyerId: c.buyer_id, sku: c.sku, tenantId: c.tenant_id, hash: r });
        });
        refRows.forEach((m: any, i: number) => {
          const h = result.referenceHashes[i];
          if (h) items.push({ ownerType: 'reference', ownerId: m.id, sku: c.sku, tenantId: c.tenant_id, hash: h });
        });
        await this.opts.onHashes(tx, items);
      }
    });
    this.opts.onJobsQueued?.();
  }

  private async analysisFailed(job: Job, e: unknown): Promise<void> {
    const { claimId } = job.payload as { claimId: string };
    const message = e instanceof Error ? e.message : String(e);
    await this.db.transaction(async (tx) => {
      const c = (await tx.query('SELECT * FROM claims WHERE id = $1 FOR UPDATE', [claimId])).rows[0];
      if (!c || (c.state !== 'analysing' && c.state !== 'submitted')) return;
      const cur = c.state === 'submitted' ? await this.transitionAndReturn(tx, c, 'analysing', { job: job.id }) : c;
      const policy = { outcome: 'merchant_window', reasons: [`analysis failed after ${job.attempts} attempts: ${message}`], everBlocked: Boolean(parseJson(c.policy)?.everBlocked) };
      await tx.query('UPDATE claims SET policy = $2 WHERE id = $1', [claimId, JSON.stringify(policy)]);
      await this.transition(tx, cur, 'in_review', 'system', 'analysis.failed', { attempts: job.attempts, error: message.slice(0, 500) });
    });
    this.opts.onJobsQueued?.();
  }

  private async transitionAndReturn(tx: SqlQueryable, c: any, to: ClaimState, data: Record<string, unknown>): Promise<any> {
    await this.transition(tx, c, to, 'system', 'analysis.started', data);
    return { ...c, state: to };
  }

  private async buyerRecord(tx: SqlQueryable, c: any) {
    const r = await tx.query(
      `SELECT count(*) FILTER (WHERE state = 'rejected')::int AS rejected,
              count(*) FILTER (WHERE policy->>'everBlocked' = 'true')::int AS flagged,
              count(*) FILTER (WHERE created_at > now() - ($3::double precision * interval '1 day'))::int AS recent
       FROM claims WHERE tenant_id = $1 AND buyer_id = $2 AND id <> $4`,
      [c.tenant_id, c.buyer_id, this.policy.buyerRecord.windowDays, c.id],
    );
    const x = r.rows[0];
    return { rejectedClaims: x.rejected, flaggedClaims: x.flagged, claimsInWindow: x.recent + 1 };
  }

  private async fireDeadline(job: Job): Promise<void> {
    const { claimId, kind, round, deadline } = job.payload as { claimId: string; kind: 'merchant' | 'evidence'; round: number; deadline?: string };
    await this.db.transaction(async (tx) => {
      const c = (await tx.query('SELECT * FROM claims WHERE id = $1 FOR UPDATE', [claimId])).rows[0];
      if (!c || c.round !== round) return;
      // A deadline that was replaced by a later one (a new request for evidence) does nothing.
      const current = iso(kind === 'merchant' ? c.merchant_deadline : c.evidence_deadline);
      if (deadline && current !== new Date(deadline).toISOString()) return;
      if (kind === 'merchant' && c.state === 'awaiting_merchant') {
        await this.transition(tx, c, 'in_review', 'deadline', 'deadline.merchant_response_expired', { deadline: iso(c.merchant_deadline), firedAt: new Date().toISOString() });
      } else if (kind === 'evidence' && c.state === 'more_evidence_requested') {
        await this.transition(tx, c, 'in_review', 'deadline', 'deadline.more_evidence_expired', { deadline: iso(c.evidence_deadline), firedAt: new Date().toISOString() });
      }
    });
    this.opts.onJobsQueued?.();
  }

  private async deliverWebhookJob(job: Job): Promise<void> {
    const { endpointId, event } = job.payload as { endpointId: string; event: { id: string; type: string } };
    const ep = (await this.db.query('SELECT * FROM webhook_endpoints WHERE id = $1', [endpointId])).rows[0];
    if (!ep || !ep.active) return;
    const r = await deliverWebhook(ep.url, ep.secret, event, this.opts.webhookTimeoutMs ?? 10_000, { allowPrivate: this.opts.webhookAllowPrivate });
    await this.db.query(
      `INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, event_type, attempt, ok, status_code, error, duration_ms)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
      [ep.tenant_id, ep.id, event.id, event.type, job.attempts, r.ok, r.status ?? null, r.error ?? null, r.ms],
    );
    if (!r.ok) throw new ServiceError(502, 'webhook_failed', r.error ?? `status ${r.status}`);
  }
}

// ---- views and helpers --------------------------------------------------------------------

function iso(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  const d = v instanceof Date ? v : new Date(String(v));
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function parseJson(v: unknown): any {
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? JSON.parse(v) : v;
}

function mediaView(m: any) {
  return {
    id: m.id,
    kind: m.kind,
    sha256: m.blob_sha256,
    filename: m.filename,
    width: m.width,
    height: m.height,
    format: m.format,
    url: `/v1/media/${m.id}`,
    createdAt: iso(m.created_at),
  };
}

function claimSummary(c: any) {
  return {
    id: c.id,
    state: c.state,
    orderId: c.order_id,
    merchantId: c.merchant_id,
    buyerId: c.buyer_id,
    sku: c.sku,
    type: c.type,
    amount: Number(c.amount),
    currency: c.currency,
    risk: c.risk,
    // the most serious photo verdict (tampered > ai_generated > suspicious > clean), null before analysis
    verdict: worstVerdict(c.verdicts),
    deadlines: { merchantResponse: iso(c.merchant_deadline), moreEvidence: iso(c.evidence_deadline) },
    createdAt: iso(c.created_at),
    updatedAt: iso(c.updated_at),
  };
}

const VERDICT_ORDER = ['tampered', 'ai_generated', 'suspicious', 'clean'];

function imageVerdicts(analysis: any): string[] | null {
  return Array.isArray(analysis?.images) ? analysis.images.map((i: any) => (typeof i?.verdict === 'string' ? i.verdict : '')) : null;
}

/** The most serious of the photos' verdicts; null when there is none (not analysed, or only unreadable photos). */
function worstVerdict(verdicts: unknown): string | null {
  if (!Array.isArray(verdicts)) return null;
  let best: string | null = null;
  for (const v of verdicts) {
    const i = VERDICT_ORDER.indexOf(v);
    if (i >= 0 && (best === null || i < VERDICT_ORDER.indexOf(best))) best = v;
  }
  return best;
}

function auditView(e: AuditEntry) {
  return { seq: e.seq, at: e.at, actor: e.actor, action: e.action, fromState: e.fromState, toState: e.toState, data: e.data, hash: e.hash, prevHash: e.prevHash };
}

function encodeCursor(t: unknown, id: string): string {
  // Microsecond precision matters: PostgreSQL keeps it, a JS Date would drop it.
  return Buffer.from(JSON.stringify([t instanceof Date ? t.toISOString() : String(t), id])).toString('base64url');
}

function decodeCursor(s: string): { t: string; id: string } {
  try {
    const [t, id] = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
    if (typeof t !== 'string' || typeof id !== 'string' || parseTimestamp(t) === undefined || id.includes('\u0000')) throw new Error('bad');
    return { t, id };
  } catch {
    throw invalid('bad cursor');
  }
}
