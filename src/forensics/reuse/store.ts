// PostgreSQL-backed store of the photo-reuse index: every hash the service has seen, with
// what it belongs to (a claim, a merchant's reference media, a fraud list), persisted in one
// table and mirrored in memory by a ReuseIndex so that lookups never scan the table.
//
// Written against a minimal SQL client (`query(text, params) → { rows }`), which both PGlite
// (`PGlite#query`) and node-postgres (`pg.Pool#query`, `pg.Client#query`) satisfy, so the
// same code runs embedded and on a server.
//
// Keeping the two in step: writes go to the database first and then to memory; a lookup
// reads its matches' details back from the table, so an entry whose insert was rolled back
// (or deleted by another process) never shows up as a match. `reload()` rebuilds the
// memory index from the table (e.g. after another process has written to it).

import type { ReuseLookup, ReuseLookupOptions, ReuseMatch } from '../types.ts';
import { ReuseInputError, hexToWords, isHashHex } from './hash-words.ts';
import { DEFAULT_MAX_DISTANCE, DEFAULT_MIN_QUALITY, HASH_WORDS, ReuseIndex, type IndexMatch } from './index.ts';
import { ParallelSearch } from './parallel.ts';

/** The subset of a SQL client this module needs (PGlite, pg.Pool, pg.Client, a transaction). */
export interface SqlClient {
  query<T = any>(text: string, params?: unknown[]): Promise<{ rows: T[] }>;
}

export type ReuseOwnerType = 'claim' | 'reference' | 'fraud_list';
const OWNER_TYPES: readonly ReuseOwnerType[] = ['claim', 'reference', 'fraud_list'];

export interface ReuseEntryInput {
  hash: string;
  /** PDQ quality 0–100; null/undefined when the caller does not know it. */
  quality?: number | null;
  ownerType: ReuseOwnerType;
  /** Claim id, reference media id, or fraud-list entry id. */
  ownerId: string;
  buyerId?: string | null;
  sku?: string | null;
  tenantId?: string | null;
}

export interface ReuseEntry {
  id: number;
  hash: string;
  quality: number | null;
  ownerType: ReuseOwnerType;
  ownerId: string;
  buyerId: string | null;
  sku: string | null;
  tenantId: string | null;
  createdAt: Date;
}

export interface ReuseStoreOptions {
  /** Table name, optionally schema-qualified (default `reuse_hashes`). */
  table?: string;
  /** Hashes below this quality are kept in the table but not matched on (default 50). */
  minQuality?: number;
  /** Default distance for `lookup` callers that pass none (default 31). */
  maxDistance?: number;
  /** Rows read per round trip while loading (default 50 000). */
  batchSize?: number;
  /**
   * Worker threads that run the probes of a lookup (default 0: on the calling thread). With
   * threads the index lives in shared memory and a lookup's variants are split over them, so
   * the caller's event loop is not blocked by the search (about 5–10 ms of CPU per photo at
   * 10 M hashes) and, with two idle cores, a lookup takes about half the wall time.
   */
  searchThreads?: number;
  /** Below this many hashes lookups stay on the calling thread (a message costs more). Default 100 000. */
  parallelMinSize?: number;
  /**
   * How often (ms) a lookup first reads the rows other processes added since (default 1000;
   * 0 = before every lookup; a negative value = never). See `catchUp`.
   */
  refreshMs?: number;
}

/** Rows read per round trip when catching up with other processes' writes. */
const CATCH_UP_PAGE = 10_000;
/** Ids missed below the highest one read are looked for again for this long (then taken as rolled back). */
const HOLE_TTL_MS = 5 * 60_000;
/** At most this many such ids are remembered. */
const MAX_HOLES = 100_000;

const IDENT = /^[a-z_][a-z0-9_]{0,62}(\.[a-z_][a-z0-9_]{0,62})?$/;

function tableName(opts: ReuseStoreOptions): string {
  const t = opts.table ?? 'reuse_hashes';
  if (!IDENT.test(t)) throw new ReuseInputError('bad_option', `not a plain (schema.)table name: '${t}'`);
  return t;
}

/**
 * Creates the table and its indexes if they do not exist (idempotent; the claims service
 * runs it with its migrations). Ids are a bigserial; the memory index holds them as 31-bit
 * integers, which leaves room for two billion hashes.
 */
export async function ensureReuseSchema(db: SqlClient, opts: ReuseStoreOptions = {}): Promise<void> {
  const t = tableName(opts);
  const bare = t.replace('.', '_');
  await db.query(`CREATE TABLE IF NOT EXISTS ${t} (
    id bigserial PRIMARY KEY,
    hash char(64) NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    quality smallint CHECK (quality BETWEEN 0 AND 100),
    owner_type text NOT NULL CHECK (owner_type IN ('claim', 'reference', 'fraud_list')),
    owner_id text NOT NULL,
    buyer_id text,
    sku text,
    tenant_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (owner_type, owner_id, hash)
  )`);
  await db.query(`CREATE INDEX IF NOT EXISTS ${bare}_tenant_idx ON ${t} (tenant_id, owner_type)`);
}

interface Row {
  id: string | number;
  hash: string;
  quality: number | null;
  owner_type: ReuseOwnerType;
  owner_id: string;
  buyer_id: string | null;
  sku: string | null;
  tenant_id: string | null;
  created_at: Date | string;
}

const COLUMNS = 'id::text AS id, hash, quality, owner_type, owner_id, buyer_id, sku, tenant_id, created_at';
/** Matches of each owner type a lookup returns (the closest); the detector lists 10. */
const KEEP_PER_TYPE = 20;

function toEntry(r: Row): ReuseEntry {
  return {
    id: Number(r.id),
    hash: r.hash,
    quality: r.quality === null || r.quality === undefined ? null : Number(r.quality),
    ownerType: r.owner_type,
    ownerId: r.owner_id,
    buyerId: r.buyer_id ?? null,
    sku: r.sku ?? null,
    tenantId: r.tenant_id ?? null,
    createdAt: r.created_at instanceof Date ? r.created_at : new Date(r.created_at),
  };
}

function validate(e: ReuseEntryInput): ReuseEntryInput {
  const hash = typeof e.hash === 'string' ? e.hash.toLowerCase() : e.hash;
  if (!isHashHex(hash)) throw new ReuseInputError('bad_hash', `not a 256-bit hash in hex: '${String(e.hash).slice(0, 80)}'`);
  if (e.quality !== undefined && e.quality !== null && !(Number.isInteger(e.quality) && e.quality >= 0 && e.quality <= 100)) {
    throw new ReuseInputError('bad_option', `quality must be an integer 0–100, not ${e.quality}`);
  }
  if (!OWNER_TYPES.includes(e.ownerType)) throw new ReuseInputError('bad_option', `owner type must be claim, reference or fraud_list, not '${e.ownerType}'`);
  if (typeof e.ownerId !== 'string' || e.ownerId.length === 0) throw new ReuseInputError('bad_id', 'owner id is required');
  return { ...e, hash };
}

/** A match with everything the table knows about the stored hash. */
export interface StoredMatch extends ReuseMatch {
  entry: ReuseEntry;
}

/** The persistent index: the table plus its in-memory mirror. Create it with `loadIndex`. */
export class ReuseStore implements ReuseLookup {
  readonly table: string;
  readonly minQuality: number;
  readonly maxDistance: number;
  private index: ReuseIndex;
  private readonly searchThreads: number;
  private readonly parallelMinSize: number;
  /** Started on the first lookup of a large enough index; replaced when the index is rebuilt. */
  private parallel: ParallelSearch | undefined;
  private closed = false;
  private readonly refreshMs: number;
  /** Highest id read from the table so far. */
  private maxId = 0;
  /**
   * Ids below maxId not seen yet, with when they were first missed: a bigserial id is taken
   * when a row is inserted, not when its transaction commits, so a row with a lower id can
   * appear after higher ones were read. Rolled-back ids never appear; they are forgotten
   * after HOLE_TTL_MS.
   */
  private holes = new Map<number, number>();
  private lastRefresh = 0;
  private refreshing: Promise<void> | undefined;

  private constructor(
    private readonly db: SqlClient,
    opts: ReuseStoreOptions,
    index: ReuseIndex,
  ) {
    this.table = tableName(opts);
    this.minQuality = opts.minQuality ?? DEFAULT_MIN_QUALITY;
    this.maxDistance = opts.maxDistance ?? DEFAULT_MAX_DISTANCE;
    this.searchThreads = opts.searchThreads ?? 0;
    if (!Number.isInteger(this.searchThreads) || this.searchThreads < 0 || this.searchThreads > 8) {
      throw new ReuseInputError('bad_option', `searchThreads must be 0–8, not ${opts.searchThreads}`);
    }
    this.parallelMinSize = opts.parallelMinSize ?? 100_000;
    this.refreshMs = opts.refreshMs ?? 1000;
    this.index = index;
  }

  /** Reads every matchable hash of the table into memory (keyset pages, no row objects kept). */
  static async load(db: SqlClient, opts: ReuseStoreOptions = {}): Promise<ReuseStore> {
    const store = new ReuseStore(db, opts, new ReuseIndex());
    store.index = await store.readIndex(opts.batchSize ?? 50_000);
    return store;
  }

  /** Number of hashes in memory (matchable ones: quality unknown or ≥ minQuality). */
  get size(): number {
    return this.index.size;
  }

  memory() {
    return this.index.memory();
  }

  /** Rebuilds the memory index from the table. */
  async reload(batchSize = 50_000): Promise<void> {
    const index = await this.readIndex(batchSize);
    const old = this.parallel;
    this.parallel = undefined;
    this.index = index;
    await old?.close();
  }

  /** Stops the search threads (lookups after this run on the calling thread). */
  async close(): Promise<void> {
    const p = this.parallel;
    this.parallel = undefined;
    this.closed = true;
    await p?.close();
  }

  /** Where a lookup's probes run: worker threads for a large index when configured, else here. */
  private find(hashes: string[], maxDistance: number): IndexMatch[] | Promise<IndexMatch[]> {
    if (this.searchThreads === 0 || this.closed || this.index.size < this.parallelMinSize) {
      this.lastSearchThreads = 0;
      return this.index.search(hashes, maxDistance);
    }
    this.parallel ??= new ParallelSearch(this.index, { workers: this.searchThreads, callerShare: false });
    this.lastSearchThreads = this.searchThreads;
    return this.parallel.search(hashes, maxDistance);
  }

  /** Worker threads the last lookup was sent to (0: it ran on the calling thread). */
  lastSearchThreads = 0;

  /**
   * Persists entries and adds them to memory. `tx` lets a caller write inside its own
   * transaction; if that transaction is rolled back, the memory entries it left behind
   * match nothing (lookups check the table) until the next `reload`.
   * An entry already stored for the same owner and hash is returned as it is.
   */
  async add(entries: ReuseEntryInput | ReuseEntryInput[], tx: SqlClient = this.db): Promise<ReuseEntry[]> {
    const list = (Array.isArray(entries) ? entries : [entries]).map(validate); // all or nothing
    const out: ReuseEntry[] = [];
    for (const e of list) {
      const ins = await tx.query<Row>(
        `INSERT INTO ${this.table} (hash, quality, owner_type, owner_id, buyer_id, sku, tenant_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (owner_type, owner_id, hash) DO NOTHING
         RETURNING ${COLUMNS}`,
        [e.hash, e.quality ?? null, e.ownerType, e.ownerId, e.buyerId ?? null, e.sku ?? null, e.tenantId ?? null],
      );
      let row = ins.rows[0];
      if (!row) {
        row = (
          await tx.query<Row>(`SELECT ${COLUMNS} FROM ${this.table} WHERE owner_type = $1 AND owner_id = $2 AND hash = $3`, [
            e.ownerType,
            e.ownerId,
            e.hash,
          ])
        ).rows[0];
        if (!row) continue; // deleted concurrently
      }
      const entry = toEntry(row);
      if (this.matchable(entry.quality) && !this.index.has(entry.id)) this.index.add(entry.hash, entry.id);
      // (ids below it that this process has not read are found by the next catchUp)
      out.push(entry);
    }
    return out;
  }

  /** Deletes one entry by id; returns whether it existed. */
  async remove(id: number, tx: SqlClient = this.db): Promise<boolean> {
    if (!Number.isInteger(id) || id < 0) throw new ReuseInputError('bad_id', `not an entry id: ${id}`);
    const r = await tx.query<{ id: string }>(`DELETE FROM ${this.table} WHERE id = $1 RETURNING id::text AS id`, [id]);
    this.index.remove(id);
    return r.rows.length > 0;
  }

  /** Deletes every entry of an owner (a claim that was withdrawn, a reference that was removed). */
  async removeOwner(ownerType: ReuseOwnerType, ownerId: string, tx: SqlClient = this.db): Promise<number> {
    const r = await tx.query<{ id: string }>(`DELETE FROM ${this.table} WHERE owner_type = $1 AND owner_id = $2 RETURNING id::text AS id`, [
      ownerType,
      ownerId,
    ]);
    for (const row of r.rows) this.index.remove(Number(row.id));
    return r.rows.length;
  }

  /**
   * Matches of any of `hashes` (e.g. a photo's 8 dihedral variants), with their table rows, in
   * the order of their ids: of each owner type the `keepPerType` closest (default 20), each
   * carrying the count of its type (ReuseMatch.ofType). The in-memory index finds every match;
   * the database ranks them (after leaving out what the caller excludes: the claim's own photos
   * and references, which would otherwise crowd out the ones it reports) and returns only
   * those kept, so a photo already seen in thousands
   * of claims (a fraud ring's, or the same listing photo sent again and again) costs a lookup
   * 20 rows per type instead of thousands. Before this bound, each lookup read every matching
   * row: with the submission benchmark's ~10,000 copies of one photo, the analysis went from 24
   * claims a second in its first 20 s to 11 on average over 600 s (docs/service.md, session 9).
   */
  async search(hashes: string[], opts: { maxDistance?: number; tenantId?: string; keepPerType?: number } & ReuseLookupOptions = {}): Promise<StoredMatch[]> {
    if (this.refreshMs >= 0 && Date.now() - this.lastRefresh >= this.refreshMs) await this.catchUp();
    const found = await this.find(hashes, opts.maxDistance ?? this.maxDistance);
    if (found.length === 0) return [];
    const keep = opts.keepPerType ?? KEEP_PER_TYPE;
    if (!Number.isInteger(keep) || keep < 1) throw new ReuseInputError('bad_option', `keepPerType must be a positive integer, not ${keep}`);
    // Rows missing from the table (in memory but deleted, or rolled back) drop out in the join.
    // Tenants see their own hashes; fraud lists are shared between them.
    const rows = await this.db.query<Row & { distance: number; variant: number; of_type: string | number }>(
      `SELECT * FROM (
         SELECT r.${COLUMNS.replaceAll(', ', ', r.')}, f.distance, f.variant,
                row_number() OVER (PARTITION BY r.owner_type ORDER BY f.distance, f.variant, r.id) AS rank_in_type,
                count(*) OVER (PARTITION BY r.owner_type) AS of_type
           FROM unnest($1::bigint[], $2::int[], $3::int[]) AS f(id, distance, variant)
           JOIN ${this.table} r ON r.id = f.id
          WHERE ($4::text IS NULL OR r.owner_type = 'fraud_list' OR r.tenant_id = $4)
            AND ($5::text IS NULL OR r.owner_type <> 'claim' OR r.owner_id <> $5)
            AND (r.owner_type <> 'reference' OR NOT (r.owner_id = ANY($7::text[])))
       ) ranked
       WHERE rank_in_type <= $6
       ORDER BY id::bigint`,
      [found.map((m) => String(m.id)), found.map((m) => m.distance), found.map((m) => m.variant), opts.tenantId ?? null, opts.excludeClaimId ?? null, keep, opts.excludeReferenceIds ?? []],
    );
    return rows.rows.map((r) => ({ ...toMatch({ id: Number(r.id), distance: Number(r.distance), variant: Number(r.variant) }, toEntry(r)), ofType: Number(r.of_type) }));
  }

  /** ReuseLookup for the engine (all tenants). */
  lookup(hashes: string[], maxDistance: number = this.maxDistance, opts: ReuseLookupOptions = {}): Promise<ReuseMatch[]> {
    return this.search(hashes, { ...opts, maxDistance });
  }

  /** A ReuseLookup that only sees one tenant's hashes and the shared fraud lists. */
  forTenant(tenantId: string): ReuseLookup & { minQuality: number } {
    return {
      minQuality: this.minQuality,
      lookup: (hashes: string[], maxDistance: number = this.maxDistance, opts: ReuseLookupOptions = {}) =>
        this.search(hashes, { ...opts, maxDistance, tenantId }),
    };
  }

  private matchable(quality: number | null): boolean {
    return quality === null || quality >= this.minQuality;
  }

  /**
   * Reads the rows other processes added since the last read (and rows that committed late,
   * below ids already read) into memory. Several API and worker processes share one table;
   * each keeps its own memory index, and this keeps them in step for inserts. Deletes need no
   * catching up: a lookup only reports rows still in the table. Concurrent calls share one read.
   */
  catchUp(): Promise<void> {
    this.refreshing ??= this.readNew().finally(() => {
      this.refreshing = undefined;
      this.lastRefresh = Date.now();
    });
    return this.refreshing;
  }

  private async readNew(): Promise<void> {
    const now = Date.now();
    for (const [id, since] of this.holes) if (now - since > HOLE_TTL_MS) this.holes.delete(id);
    const holes = [...this.holes.keys()];
    for (;;) {
      const from = this.maxId;
      const r = await this.db.query<{ id: string; hash: string; quality: number | null }>(
        `SELECT id::text AS id, hash, quality FROM ${this.table}
         WHERE id > $1::bigint OR id = ANY($2::bigint[]) ORDER BY id LIMIT $3`,
        [String(from), holes.map(String), CATCH_UP_PAGE],
      );
      let expected = from + 1;
      for (const row of r.rows) {
        const id = Number(row.id);
        this.holes.delete(id);
        if (id > from) {
          for (let gap = expected; gap < id && this.holes.size < MAX_HOLES; gap++) this.holes.set(gap, now);
          expected = id + 1;
          if (id > this.maxId) this.maxId = id;
        }
        if (this.matchable(row.quality) && !this.index.has(id)) this.index.add(row.hash, id);
      }
      holes.length = 0;
      if (r.rows.length < CATCH_UP_PAGE) return;
    }
  }

  private async readIndex(batchSize: number): Promise<ReuseIndex> {
    let words = new Uint32Array(Math.max(1024, batchSize) * HASH_WORDS);
    let ids = new Uint32Array(Math.max(1024, batchSize));
    let n = 0;
    let last = '0';
    for (;;) {
      const page = await this.db.query<{ id: string; hash: string }>(
        `SELECT id::text AS id, hash FROM ${this.table}
         WHERE id > $1::bigint AND (quality IS NULL OR quality >= $2)
         ORDER BY id LIMIT $3`,
        [last, this.minQuality, batchSize],
      );
      for (const r of page.rows) {
        if (n === ids.length) {
          const w2 = new Uint32Array(words.length * 2);
          w2.set(words);
          words = w2;
          const i2 = new Uint32Array(ids.length * 2);
          i2.set(ids);
          ids = i2;
        }
        hexToWords(r.hash, words, n * HASH_WORDS);
        ids[n++] = Number(r.id);
        if (Number(r.id) > this.maxId) this.maxId = Number(r.id);
      }
      if (page.rows.length < batchSize) break;
      last = page.rows[page.rows.length - 1]!.id;
    }
    const shared = this.searchThreads > 0;
    const used = words.subarray(0, n * HASH_WORDS);
    // (a shared index copies the words into shared memory itself)
    return ReuseIndex.fromWords(shared ? used : used.slice(), ids.subarray(0, n), { shared });
  }
}

function toMatch(m: IndexMatch, e: ReuseEntry): StoredMatch {
  const owner: ReuseMatch['owner'] = { type: e.ownerType, id: e.ownerId };
  if (e.buyerId) owner.buyerId = e.buyerId;
  if (e.tenantId) owner.tenantId = e.tenantId;
  if (e.sku) owner.sku = e.sku;
  return { owner, distance: m.distance, variant: m.variant, hash: e.hash, entryId: e.id, createdAt: e.createdAt.toISOString(), entry: e };
}

/** Loads the persistent index (the table must exist: see `ensureReuseSchema`). */
export function loadIndex(db: SqlClient, opts: ReuseStoreOptions = {}): Promise<ReuseStore> {
  return ReuseStore.load(db, opts);
}
