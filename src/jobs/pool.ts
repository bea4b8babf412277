// A pool of worker threads running the forensic engine, one per core by default, so the
// CPU-heavy analysis uses the whole machine while the main thread keeps serving HTTP and
// owns the database connection.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ImageReport, ReferenceMedia, ReuseLookup, ReuseLookupOptions, ReuseMatch } from '../forensics/types.ts';

export interface AnalysisTask {
  id: number;
  /** `video`: a video whose keyframes are analysed (the report of the riskiest one is kept). */
  images: { file: string; bytes: Uint8Array; contentType?: string; video?: boolean }[];
  /** `video`: a packing video whose keyframes become references (`<id>#keyframe-<n>`). */
  references: { id: string; kind: ReferenceMedia['kind']; filename?: string; bytes: Uint8Array; video?: boolean }[];
  context: { claimId?: string; buyerId?: string; deliveredAt?: string; uploadedAt?: string };
  /** Whether a reuse lookup is available (answered by the main thread). */
  reuse: boolean;
  /** Also return the PDQ hash of every image and reference. */
  hashes?: boolean;
}

export interface AnalysisResult {
  reports: ImageReport[];
  /** PDQ hash per image (null when it could not be hashed or was not asked for). */
  hashes: (string | null)[];
  /**
   * Per image: hashes of the photo regions found inside a phone screenshot (empty for other
   * photos), stored beside the photo's own hash so that the original photo sent later matches.
   */
  regionHashes?: string[][];
  referenceHashes: (string | null)[];
}

export type WorkerRequest =
  | { type: 'task'; task: AnalysisTask }
  | { type: 'reuseResult'; reqId: number; matches: ReuseMatch[] };

export type WorkerReply =
  | { type: 'done'; taskId: number; result: AnalysisResult }
  | { type: 'error'; taskId: number; message: string }
  | { type: 'reuse'; taskId: number; reqId: number; hashes: string[]; maxDistance: number; opts?: ReuseLookupOptions };

interface Pending {
  task: AnalysisTask;
  reuse?: ReuseLookup;
  resolve(r: AnalysisResult): void;
  reject(e: Error): void;
  worker?: PoolWorker;
}

interface PoolWorker {
  w: Worker;
  busy?: Pending;
}

export class AnalysisPool {
  private workers: PoolWorker[] = [];
  private queue: Pending[] = [];
  private nextId = 1;
  private closed = false;
  constructor(readonly size = availableParallelism()) {
    for (let i = 0; i < size; i++) this.spawn();
  }

  private spawn(): void {
    const pw: PoolWorker = { w: new Worker(new URL('./analysis-worker.mjs', import.meta.url)) };
    pw.w.unref();
    pw.w.on('message', (m: WorkerReply) => this.onMessage(pw, m));
    pw.w.on('error', (e) => this.onExit(pw, e));
    pw.w.on('exit', () => this.onExit(pw, new Error('analysis worker exited')));
    this.workers.push(pw);
    this.pump();
  }

  private onExit(pw: PoolWorker, e: Error): void {
    const i = this.workers.indexOf(pw);
    if (i < 0) return;
    this.workers.splice(i, 1);
    pw.busy?.reject(e);
    if (!this.closed) this.spawn();
  }

  private onMessage(pw: PoolWorker, m: WorkerReply): void {
    const p = pw.busy;
    if (!p || p.task.id !== m.taskId) return;
    if (m.type === 'reuse') {
      Promise.resolve(p.reuse ? p.reuse.lookup(m.hashes, m.maxDistance, m.opts) : [])
        .catch(() => [] as ReuseMatch[])
        .then((matches) => pw.w.postMessage({ type: 'reuseResult', reqId: m.reqId, matches } satisfies WorkerRequest));
      return;
    }
    pw.busy = undefined;
    if (m.type === 'done') p.resolve(m.result);
    else p.reject(new Error(m.message));
    this.pump();
  }

  private pump(): void {
    for (const pw of this.workers) {
      if (pw.busy) continue;
      const next = this.queue.shift();
      if (!next) return;
      pw.busy = next;
      pw.w.postMessage({ type: 'task', task: next.task } satisfies WorkerRequest);
    }
  }

  analyze(task: Omit<AnalysisTask, 'id' | 'reuse'>, reuse?: ReuseLookup): Promise<AnalysisResult> {
    if (this.closed) return Promise.reject(new Error('analysis pool closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ task: { ...task, id: this.nextId++, reuse: Boolean(reuse) }, reuse, resolve, reject });
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue) p.reject(new Error('analysis pool closed'));
    this.queue = [];
    await Promise.all(this.workers.map((pw) => pw.w.terminate()));
    this.workers = [];
  }
}
