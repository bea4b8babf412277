// A durable job queue kept in the service's own database (table `jobs`), so that a job
// and the change that asked for it commit together, and the same code runs on PGlite and
// PostgreSQL. Workers take jobs with FOR UPDATE SKIP LOCKED under a lease; a worker that
// dies stops renewing its lease and the job is taken again once the lease has expired.

import type { SqlQueryable } from '../store/sql.ts';

export type TaskName = 'analyze_claim' | 'fire_deadline' | 'deliver_webhook' | (string & {});

export interface EnqueueOptions {
  runAt?: Date;
  maxAttempts?: number;
  /** At most one job per key: a second enqueue with the same key is ignored. */
  dedupeKey?: string;
}

export interface Job {
  id: number;
  task: TaskName;
  payload: any;
  attempts: number;
  maxAttempts: number;
  runAt: Date;
}

export async function enqueue(tx: SqlQueryable, task: TaskName, payload: unknown, opts: EnqueueOptions = {}): Promise<void> {
  await tx.query(
    `INSERT INTO jobs (task, payload, run_at, max_attempts, dedupe_key)
     VALUES ($1, $2, COALESCE($3::timestamptz, now()), $4, $5)
     ON CONFLICT (dedupe_key) DO NOTHING`,
    [task, JSON.stringify(payload), opts.runAt?.toISOString() ?? null, opts.maxAttempts ?? 5, opts.dedupeKey ?? null],
  );
}

/** Takes up to `limit` due jobs (new ones, or running ones whose lease expired). */
export async function takeJobs(db: SqlQueryable, workerId: string, limit: number, leaseMs: number, tasks?: string[]): Promise<Job[]> {
  const r = await db.query(
    `UPDATE jobs SET state = 'running', locked_by = $1, lease_until = now() + ($2::int * interval '1 millisecond'),
            attempts = attempts + 1
     WHERE id IN (
       SELECT id FROM jobs
       WHERE ((state = 'queued' AND run_at <= now()) OR (state = 'running' AND lease_until < now()))
         AND ($4::text[] IS NULL OR task = ANY($4::text[]))
       ORDER BY run_at, id
       LIMIT $3
       FOR UPDATE SKIP LOCKED)
     RETURNING id, task, payload, attempts, max_attempts, run_at`,
    [workerId, leaseMs, limit, tasks ?? null],
  );
  return r.rows.map((j: any) => ({
    id: Number(j.id),
    task: j.task,
    payload: typeof j.payload === 'string' ? JSON.parse(j.payload) : j.payload,
    attempts: j.attempts,
    maxAttempts: j.max_attempts,
    runAt: j.run_at,
  }));
}

/** Extends the lease of a job this worker still holds; false when it lost it. */
export async function heartbeat(db: SqlQueryable, jobId: number, workerId: string, leaseMs: number): Promise<boolean> {
  const r = await db.query(
    `UPDATE jobs SET lease_until = now() + ($3::int * interval '1 millisecond')
     WHERE id = $1 AND locked_by = $2 AND state = 'running' RETURNING id`,
    [jobId, workerId, leaseMs],
  );
  return r.rows.length > 0;
}

export async function completeJob(db: SqlQueryable, jobId: number, workerId: string): Promise<void> {
  await db.query(`UPDATE jobs SET state = 'done', finished_at = now(), lease_until = NULL WHERE id = $1 AND locked_by = $2`, [jobId, workerId]);
}

/** Exponential backoff: base × 2^(attempt−1), capped. */
export function backoffMs(attempt: number, baseMs = 1000, capMs = 3_600_000): number {
  return Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
}

export async function failJob(db: SqlQueryable, job: Job, workerId: string, error: string, baseBackoffMs: number): Promise<'retry' | 'failed'> {
  const final = job.attempts >= job.maxAttempts;
  await db.query(
    `UPDATE jobs SET state = $3, last_error = $4, lease_until = NULL,
            run_at = now() + ($5::int * interval '1 millisecond'), finished_at = CASE WHEN $3 = 'failed' THEN now() END
     WHERE id = $1 AND locked_by = $2`,
    [job.id, workerId, final ? 'failed' : 'queued', error.slice(0, 2000), final ? 0 : backoffMs(job.attempts, baseBackoffMs)],
  );
  return final ? 'failed' : 'retry';
}
