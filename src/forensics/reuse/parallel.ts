// Splits one photo's query (its 8 variants) over the calling thread and one worker thread that
// reads the same index through SharedArrayBuffers (ReuseIndex with { shared: true }): each
// thread probes half the variants, the results are merged. On an idle 2-core machine this
// about halves a query's latency; on a busy one it gains nothing (the CPU work is the same),
// so it is optional.
//
// Exactness is the index's: the worker runs the same probeVariants on the same arrays, the
// calling thread scans the rows not yet in the postings, and the smallest distance per row is
// kept. If the index rebuilt or merged its postings (row numbers or arrays changed) while the
// worker was busy, its answer is dropped and the query is answered by index.search alone.

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

export class ParallelSearch {
  private readonly worker: Worker;
  private sentVersion = -1;
  private nextId = 1;
  private readonly pending = new Map<number, (r: Reply | undefined) => void>();
  private broken = false;

  constructor(private readonly index: ReuseIndex) {
    if (!index.isShared) throw new ReuseInputError('bad_option', 'ParallelSearch needs a ReuseIndex built with { shared: true }');
    this.worker = new Worker(new URL('./search-worker.mjs', import.meta.url));
    this.worker.on('message', (r: Reply) => {
      this.pending.get(r.id)?.(r);
      this.pending.delete(r.id);
      if (this.pending.size === 0) this.worker.unref();
    });
    // A worker that fails or exits answers nothing: pending and later queries fall back to
    // index.search on this thread, so a query never hangs.
    const fail = () => {
      this.broken = true;
      for (const resolve of this.pending.values()) resolve(undefined);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', fail);
    this.worker.unref();
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
    if (state.version !== this.sentVersion) {
      this.worker.postMessage({ type: 'state', state });
      this.sentVersion = state.version;
    }
    const id = this.nextId++;
    const half = count >> 1;
    const reply = new Promise<Reply | undefined>((resolve) => this.pending.set(id, resolve));
    this.worker.ref(); // keeps the process alive while an answer is due (unref'd when idle)
    this.worker.postMessage({ type: 'search', id, version: state.version, qw, vFrom: half, vTo: count, radius, maxDistance });
    const best = new Map<number, number>();
    probeVariants(state, qw, 0, half, radius, maxDistance, best);
    const r = await reply;
    if (!r || this.index.currentVersion !== state.version) return this.index.search(queries, maxDistance);
    for (let i = 0; i < r.rows.length; i++) {
      const row = r.rows[i]!;
      const p = r.packed[i]!;
      const prev = best.get(row);
      if (prev === undefined || p < prev) best.set(row, p);
    }
    this.index.scanUnbuilt(qw, count, maxDistance, best);
    return this.index.matchesOf(best);
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
