// Brute-force 2-nearest-neighbour matching of 256-bit binary descriptors (ORB) by Hamming
// distance, in a tiny WebAssembly function assembled below. OpenCV.js's BFMatcher counts
// bits with a byte table (≈ 37 ns per descriptor pair here); WebAssembly has a native
// 64-bit popcount, so four XOR+POPCNT per pair do the same work ≈ 10× faster. This was the
// largest single cost of the reference check (≈ 30 ms per reference for 500 × 1600 pairs).
// Results equal BFMatcher's knnMatch(k = 2): smallest distance first, ties to the lower
// train index (checked against OpenCV in test/forensics/reference/hamming.test.ts).

/*
 * The function, in WebAssembly text format (hand-assembled into `CODE` below):
 *
 * (func $knn2 (param $q i32) (param $nq i32) (param $t i32) (param $nt i32) (param $out i32)
 *   (local $i i32) (local $j i32) (local $qa i32) (local $tb i32) (local $d i32)
 *   (local $b1 i32) (local $b2 i32) (local $bi i32) (local $a0 i64) (local $a1 i64) (local $a2 i64) (local $a3 i64)
 *   (loop $rows
 *     qa = q + i*32; a0..a3 = the query descriptor's four 64-bit words
 *     b1 = b2 = 1000; bi = -1; tb = t; j = 0
 *     (loop $cols
 *       d = popcnt(a0 ^ [tb]) + popcnt(a1 ^ [tb+8]) + popcnt(a2 ^ [tb+16]) + popcnt(a3 ^ [tb+24])
 *       if d < b1 { b2 = b1; b1 = d; bi = j } else if d < b2 { b2 = d }
 *       tb += 32; j += 1; br_if $cols (j < nt))
 *     [out + i*12] = bi, b1, b2
 *     i += 1; br_if $rows (i < nq)))
 */

const get = (i: number) => [0x20, i];
const set = (i: number) => [0x21, i];
const tee = (i: number) => [0x22, i];
const i32 = (v: number) => [0x41, ...sleb(v)];
const load64 = (offset: number) => [0x29, 0x03, offset];
const store32 = (offset: number) => [0x36, 0x02, offset];
const XOR64 = 0x85, POPCNT64 = 0x7b, ADD64 = 0x7c, WRAP = 0xa7, ADD32 = 0x6a, MUL32 = 0x6c, LT_U32 = 0x49;
const LOOP = [0x03, 0x40], IF = [0x04, 0x40], ELSE = 0x05, END = 0x0b, BR_IF = 0x0d;
// params 0–4: q nq t nt out; locals: 5 i, 6 j, 7 qa, 8 tb, 9 d, 10 b1, 11 b2, 12 bi, 13–16 a0–a3
const [Q, NQ, T, NT, OUT, I, J, QA, TB, D, B1, B2, BI, A0] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13];

const word = (k: number) => [...get(A0 + k), ...get(TB), ...load64(8 * k), XOR64, POPCNT64];

const CODE = [
  ...[0x02, 0x08, 0x7f, 0x04, 0x7e], // locals: 8 × i32, 4 × i64
  ...LOOP,
  ...get(Q), ...get(I), ...i32(32), MUL32, ADD32, ...set(QA),
  ...[0, 1, 2, 3].flatMap((k) => [...get(QA), ...load64(8 * k), ...set(A0 + k)]),
  ...i32(1000), ...set(B1),
  ...i32(1000), ...set(B2),
  ...i32(-1), ...set(BI),
  ...get(T), ...set(TB),
  ...i32(0), ...set(J),
  ...LOOP,
  ...word(0), ...word(1), ADD64, ...word(2), ADD64, ...word(3), ADD64, WRAP, ...set(D),
  ...get(D), ...get(B1), LT_U32, ...IF,
  ...get(B1), ...set(B2), ...get(D), ...set(B1), ...get(J), ...set(BI),
  ELSE,
  ...get(D), ...get(B2), LT_U32, ...IF, ...get(D), ...set(B2), END,
  END,
  ...get(TB), ...i32(32), ADD32, ...set(TB),
  ...get(J), ...i32(1), ADD32, ...tee(J), ...get(NT), LT_U32, BR_IF, 0,
  END,
  ...get(OUT), ...get(I), ...i32(12), MUL32, ADD32, ...set(QA),
  ...get(QA), ...get(BI), ...store32(0),
  ...get(QA), ...get(B1), ...store32(4),
  ...get(QA), ...get(B2), ...store32(8),
  ...get(I), ...i32(1), ADD32, ...tee(I), ...get(NQ), LT_U32, BR_IF, 0,
  END,
  END,
];

function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}

function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && !(b & 0x40)) || (v === -1 && b & 0x40)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const name = (s: string) => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

const MODULE = new Uint8Array([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
  ...section(1, [1, 0x60, 5, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0]), // type: (i32 ×5) → ()
  ...section(3, [1, 0]), // one function of type 0
  ...section(5, [1, 0x00, 1]), // one memory, at least 1 page
  ...section(7, [2, ...name('knn2'), 0x00, 0, ...name('mem'), 0x02, 0]),
  ...section(10, [1, ...uleb(CODE.length), ...CODE]),
]);

interface Knn2 {
  knn2(q: number, nq: number, t: number, nt: number, out: number): void;
  mem: WebAssembly.Memory;
}

let instance: Knn2 | undefined;

function wasm(): Knn2 {
  if (!instance) {
    const inst = new WebAssembly.Instance(new WebAssembly.Module(MODULE), {});
    instance = inst.exports as unknown as Knn2;
  }
  return instance;
}

export interface Knn2Result {
  /** Index of the nearest train descriptor per query (−1 when there is none). */
  best: Int32Array;
  bestDistance: Int32Array;
  /** Distance of the second nearest (1000 when there is none). */
  secondDistance: Int32Array;
}

/**
 * For each of `nq` query descriptors (32 bytes each, packed) the nearest and second
 * nearest of `nt` train descriptors by Hamming distance.
 */
export function knn2Hamming(query: Uint8Array, nq: number, train: Uint8Array, nt: number): Knn2Result {
  const best = new Int32Array(nq), bestDistance = new Int32Array(nq), secondDistance = new Int32Array(nq);
  if (nq === 0) return { best, bestDistance, secondDistance };
  if (nt === 0) {
    best.fill(-1);
    bestDistance.fill(1000);
    secondDistance.fill(1000);
    return { best, bestDistance, secondDistance };
  }
  const w = wasm();
  const tOff = nq * 32;
  const outOff = tOff + nt * 32;
  const need = outOff + nq * 12;
  const have = w.mem.buffer.byteLength;
  if (need > have) w.mem.grow(Math.ceil((need - have) / 65536));
  const mem = new Uint8Array(w.mem.buffer);
  mem.set(query.subarray(0, nq * 32), 0);
  mem.set(train.subarray(0, nt * 32), tOff);
  w.knn2(0, nq, tOff, nt, outOff);
  const out = new Int32Array(w.mem.buffer, outOff, nq * 3);
  for (let i = 0; i < nq; i++) {
    best[i] = out[3 * i]!;
    bestDistance[i] = out[3 * i + 1]!;
    secondDistance[i] = out[3 * i + 2]!;
  }
  return { best, bestDistance, secondDistance };
}
