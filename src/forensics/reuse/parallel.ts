// Splits one photo's query (its 8 variants) over worker threads that read the same index
// through SharedArrayBuffers (ReuseIndex with { shared: true }), and optionally the calling
// thread too; the results are merged. Two uses:
//   - latency: on an idle 2-core machine, two threads about halve a query's wall time (the
//     CPU work is the same, so on a busy machine it gains nothing);
//   - keeping the caller free: with `callerShare: false` every probe runs on the workers, so
//     a service's event loop (HTTP, database) is not blocked for the ~5–10 ms a 10 M-hash
//     query takes; the caller only merges and scans the few rows not yet in the postings.
//
// Exactness is the index's: each worker runs the same probeVariants on the same arrays, the
// calling thread scans the rows not yet in the postings, and the smallest distance per row is
// kept. If the index rebuilt or merged its postings (row numbers or arrays changed) while a
// worker was busy, the answer is dropped and the query is answered by index.search alone.

import { Worker } from 'node:worker_threads';
import {
  DEFAULT_MAX_DISTANCE,
  HASH_WORDS,
  MAX_POSTING_RADIUS,
  ReuseInputError,
  hexToWords,
  probeVariants,
  type IndexMatch,
  type ReuseIndex,
  type SearchState,
} from './index.ts';

interface Reply {
  id: number;
  rows: Int32Array;
  packed: Int32Array;
}

export interface ParallelSearchOptions {
  /** Worker threads (default 1). */
  workers?: number;
  /** Whether the calling thread probes a share of the variants too (default true). */
  callerShare?: boolean;
}

interface SearchWorker {
  w: Worker;
  sentVersion: number;
  pending: Map<number, (r: Reply | undefined) => void>;
}

export class ParallelSearch {
  private readonly workers: SearchWorker[] = [];
  private readonly callerShare: boolean;
  private nextId = 1;
  private broken = false;

  constructor(
    private readonly index: ReuseIndex,
    opts: ParallelSearchOptions = {},
  ) {
    if (!index.isShared) throw new ReuseInputError('bad_option', 'ParallelSearch needs a ReuseIndex built with { shared: true }');
    const n = opts.workers ?? 1;
    if (!Number.isInteger(n) || n < 1 || n > 8) throw new ReuseInputError('bad_option', `workers must be 1–8, not ${n}`);
    this.callerShare = opts.callerShare ?? true;
    for (let i = 0; i < n; i++) this.workers.push(this.spawn());
  }

  private spawn(): SearchWorker {
    const sw: SearchWorker = { w: new Worker(new URL('./search-worker.mjs', import.meta.url)), sentVersion: -1, pending: new Map() };
    sw.w.on('message', (r: Reply) => {
      sw.pending.get(r.id)?.(r);
      sw.pending.delete(r.id);
      if (sw.pending.size === 0) sw.w.unref();
    });
    // A worker that fails or exits answers nothing: pending and later queries fall back to
    // index.search on this thread, so a query never hangs.
    const fail = () => {
      this.broken = true;
      for (const resolve of sw.pending.values()) resolve(undefined);
      sw.pending.clear();
    };
    sw.w.on('error', fail);
    sw.w.on('exit', fail);
    sw.w.unref();
    return sw;
  }

  /** Same answer as index.search(queries, maxDistance). */
  async search(queries: readonly (string | Uint32Array)[], maxDistance = DEFAULT_MAX_DISTANCE): Promise<IndexMatch[]> {
    const radius = Math.floor(maxDistance / 8);
    if (this.broken || queries.length < 2 || !Number.isInteger(maxDistance) || maxDistance < 0 || radius > MAX_POSTING_RADIUS) {
      return this.index.search(queries, maxDistance);
    }
    const count = queries.length;
    const qw = new Uint32Array(count * HASH_WORDS);
    queries.forEach((h, i) => {
      if (typeof h === 'string') hexToWords(h, qw, i * HASH_WORDS);
      else if (h.length === HASH_WORDS) qw.set(h, i * HASH_WORDS);
      else throw new ReuseInputError('bad_hash', 'a hash is 8 words of 32 bits');
    });
    const state: SearchState = this.index.searchState();
    // Variant ranges: [bounds[i], bounds[i+1]) for participant i; the caller (if it takes a
    // share) is participant 0.
    const parts = Math.min(count, this.workers.length + (this.callerShare ? 1 : 0));
    const bounds = Array.from({ length: parts + 1 }, (_, i) => Math.round((i * count) / parts));
    const first = this.callerShare ? 1 : 0;
    const replies: Promise<Reply | undefined>[] = [];
    for (let p = first; p < parts; p++) {
      const sw = this.workers[p - first]!;
      if (state.version !== sw.sentVersion) {
        sw.w.postMessage({ type: 'state', state });
        sw.sentVersion = state.version;
      }
      const id = this.nextId++;
      replies.push(new Promise<Reply | undefined>((resolve) => sw.pending.set(id, resolve)));
      sw.w.ref(); // keeps the process alive while an answer is due (unref'd when idle)
      sw.w.postMessage({ type: 'search', id, version: state.version, qw, vFrom: bounds[p], vTo: bounds[p + 1], radius, maxDistance });
    }
    const best = new Map<number, number>();
    if (this.callerShare) probeVariants(state, qw, 0, bounds[1]!, radius, maxDistance, best);
    for (const r of await Promise.all(replies)) {
      if (!r || this.index.currentVersion !== state.version) return this.index.search(queries, maxDistance);
      for (let i = 0; i < r.rows.length; i++) {
        const row = r.rows[i]!;
        const p = r.packed[i]!;
        const prev = best.get(row);
        if (prev === undefined || p < prev) best.set(row, p);
      }
    }
    this.index.scanUnbuilt(qw, count, maxDistance, best);
    return this.index.matchesOf(best);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((sw) => sw.w.terminate()));
  }
}
