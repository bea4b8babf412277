// The orphan-blob sweep: removes stored blobs that no row names.
//
// Uploads are written to the blob store before the transaction that names them commits (the
// intake threads check, hash and write each file first; see docs/service.md, Uploads). When
// that transaction then refuses the request (an unknown order, an amount above the order's, a
// failed group) or the process dies before it commits, the file stays with no `blobs` row:
// stored whole, named by nothing. The same goes for temp files a crash cut off mid-write. The
// sweep removes both, once they are older than a grace period, so that an upload still on its
// way to its commit is never touched. A blob is kept if and only if a `blobs` row names it.
//
// Why the grace period is enough: every upload writes its file again even when the same bytes
// are stored already (FsBlobStore.put, the intake threads, S3BlobStore.put), so a file older
// than the grace period belongs to no upload in flight, unless that upload has been between
// its write and its commit for longer than the grace period. The file-system store also moves
// a candidate aside before it looks at it once more (FsBlobStore.removeIfWrittenBefore).

import { enqueue } from '../jobs/queue.ts';
import type { BlobStore } from './blobs.ts';
import type { SqlQueryable } from './sql.ts';

/** The least grace period the sweep accepts: an upload reaches its commit within seconds. */
export const MIN_GRACE_MS = 60_000;
export const DEFAULT_GRACE_MS = 60 * 60_000;

export interface BlobSweepOptions {
  /** Only blobs and temp files last written at least this long ago are removed (default 1 h). */
  graceMs?: number;
  /** Report what would be removed, remove nothing. */
  dryRun?: boolean;
  /** The present, ms since the epoch (tests). */
  now?: number;
  /** Blobs looked up in the database per query (default 500). */
  batch?: number;
}

export interface BlobSweepReport {
  dryRun: boolean;
  graceMs: number;
  /** Blobs written before this instant were candidates. */
  cutoff: string;
  /** Blobs listed in the store. */
  scanned: number;
  /** Of those, written within the grace period (not looked at further). */
  recent: number;
  /** Older ones that a `blobs` row names (kept). */
  referenced: number;
  /** Older ones that no row names. */
  orphans: number;
  orphanBytes: number;
  /** Orphans removed (0 in a dry run; fewer than `orphans` when one was written again meanwhile). */
  removed: number;
  bytesFreed: number;
  /** Temp files of writes a crash cut off, removed (file-system store only). */
  tempFilesRemoved: number;
  tempBytesFreed: number;
  /** Blobs an earlier sweep had set aside when a crash cut it off, put back (file system only). */
  restored: number;
}

export class GraceTooShortError extends Error {
  constructor(ms: number) {
    super(`the grace period must be at least ${MIN_GRACE_MS / 1000} s (uploads on their way to their commit must not be swept), not ${ms / 1000} s`);
    this.name = 'GraceTooShortError';
  }
}

export async function sweepOrphanBlobs(db: SqlQueryable, blobs: BlobStore, opts: BlobSweepOptions = {}): Promise<BlobSweepReport> {
  const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
  if (!Number.isFinite(graceMs) || graceMs < MIN_GRACE_MS) throw new GraceTooShortError(graceMs);
  const dryRun = opts.dryRun ?? false;
  const cutoff = (opts.now ?? Date.now()) - graceMs;
  const batchSize = opts.batch ?? 500;
  const r: BlobSweepReport = {
    dryRun,
    graceMs,
    cutoff: new Date(cutoff).toISOString(),
    scanned: 0,
    recent: 0,
    referenced: 0,
    orphans: 0,
    orphanBytes: 0,
    removed: 0,
    bytesFreed: 0,
    tempFilesRemoved: 0,
    tempBytesFreed: 0,
    restored: 0,
  };

  // What an earlier sweep set aside when a crash cut it off goes back first (it may be an
  // upload's); it is then listed like any other blob.
  r.restored = await blobs.restoreSetAside();
  let batch = new Map<string, number>(); // sha → size
  const settle = async () => {
    if (batch.size === 0) return;
    const shas = [...batch.keys()];
    const named = new Set(
      (await db.query<{ sha256: string }>('SELECT sha256 FROM blobs WHERE sha256 = ANY($1::text[])', [shas])).rows.map((row) => row.sha256),
    );
    for (const [sha, size] of batch) {
      if (named.has(sha)) {
        r.referenced++;
        continue;
      }
      r.orphans++;
      r.orphanBytes += size;
      if (dryRun) continue;
      const freed = await blobs.removeIfWrittenBefore(sha, cutoff);
      if (freed > 0) {
        r.removed++;
        r.bytesFreed += freed;
      }
    }
    batch = new Map();
  };
  for await (const b of blobs.list()) {
    r.scanned++;
    if (b.writtenAt >= cutoff) {
      r.recent++;
      continue;
    }
    batch.set(b.sha256, b.size);
    if (batch.size >= batchSize) await settle();
  }
  await settle();
  if (!dryRun) {
    const t = await blobs.removeStaleTemp(cutoff);
    r.tempFilesRemoved = t.files;
    r.tempBytesFreed = t.bytes;
  }
  return r;
}

/**
 * The longest duration parseDuration takes: 10 years (3650 d). Nine digits of days went past
 * the range of a Date (the sweep's cutoff, now − grace, threw a RangeError: a 500); a grace
 * period longer than the store has existed removes nothing anyway.
 */
export const MAX_DURATION_MS = 3650 * 86_400_000;

/** Parses a grace period: a whole number with s, m, h or d ("90m", "2h", "1d"), at most MAX_DURATION_MS. */
export function parseDuration(text: string): number {
  const m = /^(\d{1,12})(s|m|h|d)$/.exec(text.trim());
  if (!m) throw new Error(`a duration is a whole number with s, m, h or d (e.g. 90m, 2h, 1d), not '${text}'`);
  const ms = Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
  if (ms > MAX_DURATION_MS) throw new Error(`a duration must be at most ${MAX_DURATION_MS / 86_400_000}d (10 years), not '${text}'`);
  return ms;
}

/** The background task that sweeps on a schedule (`claimlens serve`; CLAIMLENS_BLOB_SWEEP_HOURS). */
export const SWEEP_TASK = 'sweep_blobs';
export const DEFAULT_SWEEP_INTERVAL_HOURS = 24;

/**
 * Where the schedule's slots fall: 20:00 UTC, 04:00 in China (UTC+8), a quiet hour for the
 * platforms this serves, for the daily default; the same instant modulo a shorter interval.
 */
const SWEEP_PHASE_MS = 20 * 3_600_000;

/**
 * Queues the sweep of the schedule's next slot: slots are whole multiples of the interval (from
 * SWEEP_PHASE_MS), and a slot's job is queued once (its dedupe key), however many processes
 * start or finish a sweep. Returns when it will run.
 */
export async function scheduleNextSweep(db: SqlQueryable, intervalMs: number, now = Date.now()): Promise<Date> {
  const phase = SWEEP_PHASE_MS % intervalMs;
  const slot = Math.floor((now - phase) / intervalMs) + 1;
  const runAt = new Date(slot * intervalMs + phase);
  await enqueue(db, SWEEP_TASK, { slot, intervalMs }, { runAt, dedupeKey: `${SWEEP_TASK}:${intervalMs}:${slot}`, maxAttempts: 3 });
  return runAt;
}

/** Reads CLAIMLENS_BLOB_SWEEP_HOURS: hours between scheduled sweeps, 0 for none (default 24). */
export function sweepIntervalFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.CLAIMLENS_BLOB_SWEEP_HOURS;
  if (v === undefined || v === '') return DEFAULT_SWEEP_INTERVAL_HOURS * 3_600_000;
  if (!/^\d{1,5}$/.test(v)) throw new Error(`CLAIMLENS_BLOB_SWEEP_HOURS must be a whole number of hours (0: no scheduled sweep), not '${v}'`);
  return Number(v) * 3_600_000;
}
