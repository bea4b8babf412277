// Runs queued jobs: takes due jobs under a lease, keeps the lease alive while a handler
// works, marks jobs done, and retries failures with exponential backoff.

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { SqlClient } from '../store/sql.ts';
import { completeJob, failJob, heartbeat, takeJobs, type Job } from './queue.ts';

export type JobHandler = (job: Job) => Promise<void>;

export interface RunnerOptions {
  workerId?: string;
  /** Jobs run at once by this runner. */
  concurrency?: number;
  leaseMs?: number;
  pollMs?: number;
  backoffBaseMs?: number;
  /** Only these tasks (default: every task with a handler). */
  tasks?: string[];
  onError?: (job: Job, e: unknown) => void;
  /**
   * Tasks that give way to foreground work (the in-process analysis gives way to uploads):
   * while `while()` is true the runner takes none of them, except one every `maxDeferMs`
   * (default 2 s) so that they still move under sustained load; the rest resumes within one
   * poll interval once the foreground work stops.
   */
  defer?: { tasks: string[]; while: () => boolean; maxDeferMs?: number };
}

export class JobRunner {
  readonly workerId: string;
  private active = 0;
  private running = false;
  private wakeUp?: () => void;
  private loopDone?: Promise<void>;
  private inflight = new Set<Promise<void>>();
  private readonly o: Required<Omit<RunnerOptions, 'workerId' | 'tasks' | 'onError' | 'defer'>> & Pick<RunnerOptions, 'onError' | 'defer'>;
  private lastDeferredStart = 0;
  private lastPoll = 0;
  private readonly tasks: string[];

  constructor(
    private readonly db: SqlClient,
    private readonly handlers: Record<string, JobHandler>,
    opts: RunnerOptions = {},
  ) {
    this.workerId = opts.workerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.o = {
      concurrency: opts.concurrency ?? 4,
      leaseMs: opts.leaseMs ?? 60_000,
      pollMs: opts.pollMs ?? 500,
      backoffBaseMs: opts.backoffBaseMs ?? 2000,
      onError: opts.onError,
      defer: opts.defer,
    };
    this.tasks = opts.tasks ?? Object.keys(handlers);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = this.loop();
  }

  /** Looks for jobs now (after an enqueue in this process). */
  wake(): void {
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loopDone;
    await Promise.allSettled([...this.inflight]);
  }

  private async loop(): Promise<void> {
    while (this.running) {
      let free = this.o.concurrency - this.active;
      const capacity = free;
      let got = 0;
      let tasks = this.tasks;
      const d = this.o.defer;
      if (d && d.while()) {
        if (Date.now() - this.lastDeferredStart >= (d.maxDeferMs ?? 2000)) {
          free = Math.min(free, 1); // the starvation guard: one deferred job now and then
        } else {
          tasks = this.tasks.filter((t) => !d.tasks.includes(t));
          // A wake after every group commit would query for the cheap tasks alone: poll those
          // at the poll interval only, leaving the database thread to the uploads.
          if (Date.now() - this.lastPoll < this.o.pollMs) free = 0;
        }
      }
      if (free > 0 && tasks.length > 0) {
        try {
          this.lastPoll = Date.now();
          const jobs = await takeJobs(this.db, this.workerId, free, this.o.leaseMs, tasks);
          if (d && jobs.some((j) => d.tasks.includes(j.task))) this.lastDeferredStart = Date.now();
          got = jobs.length;
          for (const j of jobs) this.launch(j);
        } catch {
          // Database briefly unavailable: try again after the poll interval.
        }
      }
      if (!this.running) break;
      if (got > 0 && got === free && free === capacity) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.o.pollMs);
        this.wakeUp = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wakeUp = undefined;
    }
  }

  private launch(job: Job): void {
    this.active++;
    const p = this.execute(job).finally(() => {
      this.active--;
      this.inflight.delete(p);
      this.wake();
    });
    this.inflight.add(p);
  }

  private async execute(job: Job): Promise<void> {
    const handler = this.handlers[job.task];
    const beat = setInterval(() => {
      heartbeat(this.db, job.id, this.workerId, this.o.leaseMs).catch(() => {});
    }, Math.max(50, this.o.leaseMs / 3));
    try {
      if (!handler) throw new Error(`no handler for task ${job.task}`);
      await handler(job);
      clearInterval(beat);
      await completeJob(this.db, job.id, this.workerId);
    } catch (e) {
      clearInterval(beat);
      this.o.onError?.(job, e);
      await failJob(this.db, job, this.workerId, e instanceof Error ? e.message : String(e), this.o.backoffBaseMs).catch(() => {});
    }
  }
}
