// The worker half of ParallelSearch (parallel.ts): probes its share of a query's variants on
// the index's shared arrays and sends back row → packed distance/variant pairs.

import { parentPort } from 'node:worker_threads';
import { probeVariants, type SearchState } from './index.ts';

const port = parentPort!;
let state: SearchState | undefined;

type Message =
  | { type: 'state'; state: SearchState }
  | { type: 'search'; id: number; version: number; qw: Uint32Array; vFrom: number; vTo: number; radius: number; maxDistance: number };

port.on('message', (m: Message) => {
  if (m.type === 'state') {
    state = m.state;
    return;
  }
  const best = new Map<number, number>();
  // A stale state (the index changed meanwhile) gives an answer the caller drops.
  if (state) probeVariants(state, m.qw, m.vFrom, m.vTo, m.radius, m.maxDistance, best);
  const rows = new Int32Array(best.size);
  const packed = new Int32Array(best.size);
  let i = 0;
  for (const [row, p] of best) {
    rows[i] = row;
    packed[i++] = p;
  }
  port.postMessage({ id: m.id, rows, packed }, [rows.buffer, packed.buffer]);
});
