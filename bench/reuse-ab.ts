// Manual A/B tool for the reuse index's query path (not part of `npm run bench`):
//   node --import tsx bench/reuse-ab.ts [N=10000000] [photos=120] [rounds=6]
// Builds one index of N random hashes (+ planted neighbours), then times, in alternating
// rounds on the same data, (A) a frozen copy of the previous probe (before 2026-11-23 17:00:
// JS-array candidates, 64 K popcount table, 17 interpolation lookups per one-bit bucket) and
// (B) ReuseIndex.search as it is now, checks that both give identical answers, and prints CPU
// time per photo (8 variants) and the per-round B/A ratio, so that a loaded machine affects
// both alike. Also the memory-bound part alone (bucket bounds + touching the lines).

import { HASH_WORDS, ReuseIndex, popcount32 } from '../src/forensics/reuse/index.ts';
import { xorshift32 } from '../test/helpers/xorshift.ts';

const N = Number(process.argv[2] ?? 10_000_000);
const PHOTOS = Number(process.argv[3] ?? 120);
const ROUNDS = Number(process.argv[4] ?? 6);
const D = 31;

const xorshift = xorshift32;
const next = xorshift(0x5eed + N);
const words = new Uint32Array(N * HASH_WORDS);
for (let i = 0; i < words.length; i++) words[i] = next();
const photos: Uint32Array[] = [];
for (let p = 0; p < PHOTOS; p++) {
  const q = Uint32Array.from({ length: 8 * HASH_WORDS }, next);
  for (const d of [0, 3, 8, 16, 24, 31]) {
    const row = next() % N;
    const w = q.slice((p % 8) * 8, (p % 8) * 8 + 8);
    const bits = new Set<number>();
    while (bits.size < d) bits.add(next() & 255);
    for (const b of bits) w[b >>> 5]! ^= 1 << (b & 31);
    words.set(w, row * 8);
  }
  photos.push(q);
}
const t0 = performance.now();
const index = ReuseIndex.fromWords(words);
console.log(`${N} hashes: build ${((performance.now() - t0) / 1000).toFixed(1)} s`);
// The postings are private; this tool reads them to run the frozen probe on the same data.
const internals = index as unknown as { offsets: Uint32Array[]; lows: Uint16Array[]; prow: Uint32Array[] };
const { offsets, lows, prow } = internals;

const BUCKETS = 1 << 16;
const POP16 = (() => {
  const t = new Uint8Array(1 << 16);
  for (let i = 1; i < t.length; i++) t[i] = (i & 1) + t[i >>> 1]!;
  return t;
})();
const MASKS: Uint16Array[] = (() => {
  const g: number[][] = [[], [], [], [], []];
  for (let m = 0; m < BUCKETS; m++) if (POP16[m]! <= 4) g[POP16[m]!]!.push(m);
  return g.map((x) => Uint16Array.from(x));
})();
const VOL = MASKS.map((_, r) => MASKS.slice(0, r + 1).reduce((a, m) => a + m.length, 0));
const starts = new Int32Array(4000);
const ends = new Int32Array(4000);
let sink = 0;

/** The previous probeSlot, verbatim in logic. */
function probeOld(off: Uint32Array, lw: Uint16Array, pr: Uint32Array, word: number, radius: number, hits: number[]): void {
  const qhi = word >>> 16;
  const qlo = word & 0xffff;
  let n = 0;
  for (let k = 0; k <= radius; k++) {
    const masks = MASKS[k]!;
    for (let mi = 0; mi < masks.length; mi++) {
      const b = qhi ^ masks[mi]!;
      starts[n] = off[b]!;
      ends[n] = off[b + 1]!;
      n++;
    }
  }
  let touched = 0;
  const lastLow = lw.length - 1;
  for (let i = 0; i < n; i++) {
    const st = starts[i]!;
    touched += lw[Math.min(st + ((((ends[i]! - st) * qlo) / BUCKETS) | 0), lastLow)]!;
  }
  const wide = VOL[Math.max(0, radius - 1)]!;
  for (let i = 0; i < wide; i++) for (let p = starts[i]! + 32, end = ends[i]!; p < end; p += 32) touched += lw[p]!;
  sink ^= touched;
  let j = 0;
  for (let k = 0; k <= radius; k++) {
    const count = MASKS[k]!.length;
    const allow = radius - k;
    for (let c = 0; c < count; c++, j++) {
      const st = starts[j]!;
      const end = ends[j]!;
      const len = end - st;
      if (len === 0) continue;
      if (allow === 0 || (allow === 1 && len > 48)) {
        for (let bit = 0; bit <= (allow === 0 ? 0 : 16); bit++) {
          const t = bit === 0 ? qlo : qlo ^ (1 << (bit - 1));
          let p = (st + (len * t) / BUCKETS) | 0;
          if (lw[p]! < t) {
            do p++;
            while (p < end && lw[p]! < t);
          } else {
            while (p > st && lw[p - 1]! >= t) p--;
          }
          for (; p < end && lw[p] === t; p++) hits.push(pr[p]!);
        }
      } else {
        for (let i = st; i < end; i++) if (POP16[lw[i]! ^ qlo]! <= allow) hits.push(pr[i]!);
      }
    }
  }
}

function searchOld(q: Uint32Array): Map<number, number> {
  const best = new Map<number, number>();
  const hits: number[] = [];
  for (let v = 0; v < 8; v++) {
    hits.length = 0;
    for (let s = 0; s < 8; s++) probeOld(offsets[s]!, lows[s]!, prow[s]!, q[v * 8 + s]!, 3, hits);
    for (const row of hits) {
      let d = 0;
      for (let k = 0; k < 8; k++) d += popcount32((words[row * 8 + k]! ^ q[v * 8 + k]!) >>> 0);
      if (d > D) continue;
      const packed = d * 256 + v;
      const prev = best.get(row);
      if (prev === undefined || packed < prev) best.set(row, packed);
    }
  }
  return best;
}

function boundsAndTouch(q: Uint32Array): void {
  for (let v = 0; v < 8; v++) {
    for (let s = 0; s < 8; s++) {
      const word = q[v * 8 + s]!;
      const qhi = word >>> 16;
      const qlo = word & 0xffff;
      const off = offsets[s]!;
      const lw = lows[s]!;
      let n = 0;
      for (let k = 0; k <= 3; k++) {
        const masks = MASKS[k]!;
        for (let mi = 0; mi < masks.length; mi++) {
          const b = qhi ^ masks[mi]!;
          starts[n] = off[b]!;
          ends[n] = off[b + 1]!;
          n++;
        }
      }
      let touched = 0;
      for (let i = 0; i < n; i++) {
        const st = starts[i]!;
        touched += lw[Math.min(st + ((((ends[i]! - st) * qlo) / BUCKETS) | 0), lw.length - 1)]!;
      }
      for (let i = 0; i < VOL[2]!; i++) for (let p = starts[i]! + 32, end = ends[i]!; p < end; p += 32) touched += lw[p]!;
      sink ^= touched;
    }
  }
}

const variantsOf = (q: Uint32Array) => Array.from({ length: 8 }, (_, v) => q.subarray(v * 8, v * 8 + 8));
for (const p of photos) {
  const old = searchOld(p);
  const now = index.search(variantsOf(p), D);
  if (old.size !== now.length || now.some((m) => old.get(m.id) !== m.distance * 256 + m.variant)) throw new Error('A and B differ');
}
console.log(`A and B give identical answers on all ${PHOTOS} photos`);

const runs: Record<string, () => void> = {
  A: () => photos.forEach((p) => searchOld(p)),
  B: () => photos.forEach((p) => index.search(variantsOf(p), D)),
  memory: () => photos.forEach((p) => boundsAndTouch(p)),
};
const cpu: Record<string, number[]> = { A: [], B: [], memory: [] };
const wall: Record<string, number[]> = { A: [], B: [], memory: [] };
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 ? ['memory', 'B', 'A'] : ['A', 'B', 'memory'];
  for (const name of order) {
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    runs[name]!();
    const c = process.cpuUsage(c0);
    cpu[name]!.push((c.user + c.system) / 1000 / PHOTOS);
    wall[name]!.push((performance.now() - w0) / PHOTOS);
  }
}
const med = (x: number[]) => [...x].sort((a, b) => a - b)[Math.floor(x.length / 2)]!;
for (const name of Object.keys(runs)) {
  console.log(`${name}: CPU ${med(cpu[name]!).toFixed(2)} ms/photo, wall ${med(wall[name]!).toFixed(2)} ms/photo (median of ${ROUNDS} rounds)`);
}
const ratios = cpu.B!.map((b, i) => b / cpu.A![i]!);
console.log(`B/A CPU per round: ${ratios.map((r) => r.toFixed(2)).join(' ')}; median ${med(ratios).toFixed(2)}${sink === 0.5 ? '' : ''}`);
