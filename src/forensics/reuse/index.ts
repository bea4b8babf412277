// Exact near-duplicate search for 256-bit perceptual hashes (PDQ), in memory.
//
// Layout (no JavaScript object per hash):
//   words    Uint32Array, 8 words per row: the hashes themselves (32 B per hash)
//   rowIds   Uint32Array: row → caller's numeric id          (4 B per hash)
//   idRows   Int32Array:  id → row, −1 when absent           (4 B per id; ids should be dense,
//            e.g. a database serial)
//   dead     Uint32Array bitset of deleted rows (tombstones)  (1/8 B per hash)
//   postings, one set per 32-bit word ("slot") s = 0..7, built in bulk over rows [0, built):
//     offsets[s] Uint32Array(65537): CSR offsets by the slot's high 16 bits
//     lows[s]    Uint16Array: the slot's low 16 bits, sorted inside each high-16 bucket
//     prow[s]    Uint32Array: the row of each posting                (8 × 6 = 48 B per hash)
//   rows [built, rowCount) are the insert buffer ("delta"), scanned linearly, and folded
//   into the postings by a sorted merge when the buffer grows past `deltaLimit` (4096).
//   Deletes set a tombstone; past `compactLimit` deleted rows the arrays are compacted.
//
// Exactness (why every hash within distance D is found — 100% of what a linear scan finds):
//   Split a 256-bit hash into m = 8 slots of 32 bits and write d_s for the Hamming distance of
//   slot s between the query q and a stored hash x; d(q, x) = Σ_s d_s. If d(q, x) ≤ D then
//   min_s d_s ≤ ⌊D/8⌋ =: r, for otherwise every d_s ≥ r + 1 and Σ_s d_s ≥ 8(r + 1) > D
//   (pigeonhole; for D = 31, r = 3). Take such a slot s and split it into its high and low
//   16 bits: k = popcount(hi(q_s) ^ hi(x_s)) ≤ d_s ≤ r and popcount(lo(q_s) ^ lo(x_s)) =
//   d_s − k ≤ r − k. The search visits, for every slot s and every k ≤ r, every bucket
//   hi(q_s) ^ m with popcount(m) = k — so also bucket hi(x_s) — and inside it keeps every
//   posting whose low bits differ from lo(q_s) in at most r − k bits — so also x's posting
//   (x is in that bucket because the postings of slot s hold every built row under its own
//   high 16 bits). Each candidate is then verified with its full 256-bit distance, so
//   nothing farther than D is reported. Rows not yet in the postings are scanned linearly
//   and deleted rows are skipped by their tombstone, so the result is exactly the set a
//   linear scan over the live hashes returns. For D ≥ 40 (r ≥ 5) the neighbourhoods get
//   larger than a scan is slow, so the index scans linearly instead (still exact).
//
// Cost for D = 31 (r = 3): per query hash and slot 1 + 16 + 120 + 560 = 697 buckets; inside
// the 560 buckets with k = 3 only an exact low match counts (interpolation lookup), in the
// 120 with k = 2 the 17 values within one bit (one block scan + 4 lookups, see probeSlot),
// the 17 others are scanned. Random hashes collide with a 32-bit slot within 3 bits
// with probability 5489 / 2³², so at 10 M hashes about 100 candidates per query hash need
// the full verification.

import {
  HASH_WORDS,
  ReuseInputError,
  hexToWords,
  isHashHex,
  popcount32,
  wordsToHex,
} from './hash-words.ts';

export { HASH_WORDS, ReuseInputError, hexToWords, wordsToHex, hexDistance, isHashHex, popcount32 } from './hash-words.ts';

/** PDQ's usual match threshold (upstream: "distance threshold to consider two hashes similar: ≤ 31"). */
export const DEFAULT_MAX_DISTANCE = 31;
/** PDQ hashes below this quality are too unreliable to match on (upstream: discard ≤ 49). */
export const DEFAULT_MIN_QUALITY = 50;
/** Largest per-slot radius searched through the postings (D ≤ 39); beyond it a linear scan. */
export const MAX_POSTING_RADIUS = 4;

const SLOTS = 8;
const BUCKETS = 1 << 16;
/** Largest per-slot radius searched through the postings; beyond it a linear scan is cheaper. */
const MAX_RADIUS = 4;
const MAX_ID = 0x7fffffff;
/** Buckets longer than this are searched by lookups rather than scanned when one bit may differ. */
const LOOKUP_MIN = 48;

/** popcount of every 16-bit value. */
const POP16 = (() => {
  const t = new Uint8Array(1 << 16);
  for (let i = 1; i < t.length; i++) t[i] = (i & 1) + t[i >>> 1]!;
  return t;
})();

/** 16-bit masks with exactly k bits set, k = 0..MAX_RADIUS. */
const MASKS_BY_WEIGHT: Uint16Array[] = (() => {
  const groups: number[][] = Array.from({ length: MAX_RADIUS + 1 }, () => []);
  for (let m = 0; m < BUCKETS; m++) {
    const w = POP16[m]!;
    if (w <= MAX_RADIUS) groups[w]!.push(m);
  }
  return groups.map((g) => Uint16Array.from(g));
})();

/** Number of 16-bit masks with at most r bits set, r = 0..MAX_RADIUS. */
const VOLUME_16 = MASKS_BY_WEIGHT.map((_, r) => MASKS_BY_WEIGHT.slice(0, r + 1).reduce((a, m) => a + m.length, 0));

export interface IndexMatch {
  /** The caller's id of the stored hash. */
  id: number;
  distance: number;
  /** Index of the query hash that matched best (for PDQ: the dihedral variant, 0 = as is). */
  variant: number;
}

export interface ReuseIndexOptions {
  /** Inserts buffered (and scanned linearly) before they are folded into the postings. */
  deltaLimit?: number;
  /** Deleted rows tolerated before the arrays are compacted. */
  compactLimit?: number;
  /**
   * Keep the hashes, tombstones and postings in SharedArrayBuffers, so that a worker thread
   * can search them too (see parallel.ts). `fromWords` copies a word array that is not
   * already in shared memory.
   */
  shared?: boolean;
}

/** The arrays a search reads, as handed to a worker thread (valid while `version` holds). */
export interface SearchState {
  words: Uint32Array;
  dead: Uint32Array;
  offsets: Uint32Array[];
  lows: Uint16Array[];
  prow: Uint32Array[];
  built: number;
  version: number;
}

export interface IndexMemory {
  /** Bytes of the hashes themselves (32 per row, including rows not yet compacted away). */
  hashBytes: number;
  /** Every other byte the index holds in typed arrays (postings, id maps, tombstones, spare capacity). */
  overheadBytes: number;
  live: number;
}

type Query = { words: Uint32Array; count: number; maxDistance: number };

export class ReuseIndex {
  private words: Uint32Array;
  private rowIds: Uint32Array;
  private idRows: Int32Array;
  private dead: Uint32Array;
  private rowCount = 0;
  private deadCount = 0;
  private built = 0;
  private offsets: Uint32Array[] = [];
  private lows: Uint16Array[] = [];
  private prow: Uint32Array[] = [];
  private nextId = 0;
  private readonly fixedDeltaLimit: number | undefined;
  private readonly fixedCompactLimit: number | undefined;
  private readonly shared: boolean;
  /** Bumped whenever the postings or row numbers change (build, merge, compaction). */
  private version = 0;

  constructor(options: ReuseIndexOptions = {}) {
    this.fixedDeltaLimit = options.deltaLimit;
    this.fixedCompactLimit = options.compactLimit;
    this.shared = options.shared === true;
    this.words = this.u32(1024 * HASH_WORDS);
    this.rowIds = new Uint32Array(1024);
    this.idRows = new Int32Array(1024).fill(-1);
    this.dead = this.u32(32);
    this.buildPostings();
  }

  /**
   * Bulk construction: `words` holds n hashes (8 words each) and becomes the index's own
   * storage; `ids` (default 0..n−1) must be distinct non-negative integers < 2³¹.
   */
  static fromWords(words: Uint32Array, ids?: ArrayLike<number>, options: ReuseIndexOptions = {}): ReuseIndex {
    if (words.length % HASH_WORDS !== 0) throw new ReuseInputError('bad_hash', 'word array length is not a multiple of 8');
    const n = words.length / HASH_WORDS;
    if (ids && ids.length !== n) throw new ReuseInputError('bad_id', `${ids.length} ids for ${n} hashes`);
    const idx = new ReuseIndex(options);
    idx.words = idx.share(words);
    idx.rowIds = new Uint32Array(n);
    let maxId = n - 1;
    if (ids) {
      maxId = -1;
      for (let i = 0; i < n; i++) {
        const id = ids[i]!;
        checkId(id);
        if (id > maxId) maxId = id;
      }
    }
    checkDense(maxId, n);
    idx.idRows = new Int32Array(maxId + 1).fill(-1);
    for (let i = 0; i < n; i++) {
      const id = ids ? ids[i]! : i;
      if (idx.idRows[id] !== -1) throw new ReuseInputError('duplicate_id', `id ${id} given twice`);
      idx.idRows[id] = i;
      idx.rowIds[i] = id;
    }
    idx.dead = idx.u32((n >>> 5) + 1);
    idx.rowCount = n;
    idx.nextId = maxId + 1;
    idx.buildPostings();
    return idx;
  }

  static fromHexes(hashes: readonly string[], ids?: ArrayLike<number>, options: ReuseIndexOptions = {}): ReuseIndex {
    const words = new Uint32Array(hashes.length * HASH_WORDS);
    hashes.forEach((h, i) => hexToWords(h, words, i * HASH_WORDS));
    return ReuseIndex.fromWords(words, ids, options);
  }

  /** Number of live (not deleted) hashes. */
  get size(): number {
    return this.rowCount - this.deadCount;
  }

  has(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.idRows.length && this.idRows[id]! >= 0;
  }

  /** The stored hash of `id`, or undefined. */
  get(id: number): string | undefined {
    if (!this.has(id)) return undefined;
    return wordsToHex(this.words, this.idRows[id]! * HASH_WORDS);
  }

  /** Adds a hash; returns its id (the given one, or the next free one). */
  add(hash: string | Uint32Array, id?: number): number {
    const theId = id ?? this.nextId;
    checkId(theId);
    if (this.has(theId)) throw new ReuseInputError('duplicate_id', `id ${theId} is already in the index`);
    // Validate before touching anything, so bad input changes nothing.
    const w = typeof hash === 'string' ? hexToWords(hash) : hash;
    if (w.length !== HASH_WORDS) throw new ReuseInputError('bad_hash', 'a hash is 8 words of 32 bits');
    const row = this.rowCount;
    this.ensureRows(row + 1);
    this.ensureIds(theId + 1);
    this.words.set(w, row * HASH_WORDS);
    this.rowIds[row] = theId;
    this.idRows[theId] = row;
    this.rowCount++;
    if (theId >= this.nextId) this.nextId = theId + 1;
    if (this.rowCount - this.built > this.deltaLimit()) this.mergeDelta();
    return theId;
  }

  /** Deletes a hash by id; returns whether it was there. */
  remove(id: number): boolean {
    if (!this.has(id)) return false;
    const row = this.idRows[id]!;
    this.dead[row >>> 5]! |= 1 << (row & 31);
    this.idRows[id] = -1;
    this.deadCount++;
    if (this.deadCount > this.compactLimit()) this.compact();
    return true;
  }

  /**
   * Every stored hash within `maxDistance` of any of `queries` (e.g. the 8 dihedral variants
   * of one photo), once per id, with its smallest distance and the query index giving it.
   * Sorted by distance, then id.
   */
  search(queries: readonly (string | Uint32Array)[], maxDistance = DEFAULT_MAX_DISTANCE): IndexMatch[] {
    if (!Number.isInteger(maxDistance) || maxDistance < 0 || maxDistance > 256) {
      throw new ReuseInputError('bad_option', `maxDistance must be an integer 0–256, not ${maxDistance}`);
    }
    const q: Query = { words: new Uint32Array(queries.length * HASH_WORDS), count: queries.length, maxDistance };
    queries.forEach((h, i) => {
      if (typeof h === 'string') hexToWords(h, q.words, i * HASH_WORDS);
      else if (h.length === HASH_WORDS) q.words.set(h, i * HASH_WORDS);
      else throw new ReuseInputError('bad_hash', 'a hash is 8 words of 32 bits');
    });
    const best = new Map<number, number>(); // row → distance * 256 + variant
    const radius = Math.floor(maxDistance / SLOTS);
    if (radius > MAX_RADIUS) {
      this.scanRows(0, this.rowCount, q, best);
    } else {
      probeVariants(this.searchState(), q.words, 0, q.count, radius, maxDistance, best);
      this.scanRows(this.built, this.rowCount, q, best);
    }
    return this.matchesOf(best);
  }

  /** The arrays a search reads (for parallel.ts; shared memory only if built with `shared`). */
  searchState(): SearchState {
    return { words: this.words, dead: this.dead, offsets: this.offsets, lows: this.lows, prow: this.prow, built: this.built, version: this.version };
  }

  get isShared(): boolean {
    return this.shared;
  }

  /** Rows not yet in the postings, scanned against the query words into `best` (for parallel.ts). */
  scanUnbuilt(queryWords: Uint32Array, count: number, maxDistance: number, best: Map<number, number>): void {
    this.scanRows(this.built, this.rowCount, { words: queryWords, count, maxDistance }, best);
  }

  /** row → packed (distance·256 + variant) turned into sorted matches by id (for parallel.ts). */
  matchesOf(best: Map<number, number>): IndexMatch[] {
    const out: IndexMatch[] = [];
    for (const [row, packed] of best) {
      // (a row deleted while a worker searched it is left out, as a search starting now would)
      if (!this.isDead(row)) out.push({ id: this.rowIds[row]!, distance: packed >>> 8, variant: packed & 255 });
    }
    out.sort((a, b) => a.distance - b.distance || a.id - b.id);
    return out;
  }

  get currentVersion(): number {
    return this.version;
  }

  /** A zeroed Uint32Array, in shared memory when the index is shared. */
  private u32(n: number): Uint32Array {
    return this.shared ? new Uint32Array(new SharedArrayBuffer(n * 4)) : new Uint32Array(n);
  }

  private u16(n: number): Uint16Array {
    return this.shared ? new Uint16Array(new SharedArrayBuffer(n * 2)) : new Uint16Array(n);
  }

  /** A copy of `a` in a SharedArrayBuffer when the index is shared (else `a` itself). */
  private share<T extends Uint32Array | Uint16Array>(a: T): T {
    if (!this.shared || a.buffer instanceof SharedArrayBuffer) return a;
    const ctor = a.constructor as { new (b: SharedArrayBuffer): T };
    const out = new ctor(new SharedArrayBuffer(a.byteLength));
    out.set(a as never);
    return out;
  }

  /** Typed-array bytes held, split into the hashes themselves and everything else. */
  memory(): IndexMemory {
    const hashBytes = this.rowCount * HASH_WORDS * 4;
    let total = this.words.byteLength + this.rowIds.byteLength + this.idRows.byteLength + this.dead.byteLength;
    for (let s = 0; s < this.offsets.length; s++) {
      total += this.offsets[s]!.byteLength + this.lows[s]!.byteLength + this.prow[s]!.byteLength;
    }
    return { hashBytes, overheadBytes: total - hashBytes, live: this.size };
  }

  /** Folds buffered inserts into the postings now (also done automatically). */
  flush(): void {
    if (this.built !== this.rowCount) this.mergeDelta();
  }

  /** Drops deleted rows from every array and rebuilds the postings. */
  compact(): void {
    const n = this.rowCount;
    let w = 0;
    for (let row = 0; row < n; row++) {
      if (this.isDead(row)) continue;
      if (w !== row) {
        this.words.copyWithin(w * HASH_WORDS, row * HASH_WORDS, (row + 1) * HASH_WORDS);
        this.rowIds[w] = this.rowIds[row]!;
      }
      this.idRows[this.rowIds[w]!] = w;
      w++;
    }
    this.rowCount = w;
    this.deadCount = 0;
    this.dead.fill(0);
    this.buildPostings();
  }

  // ---- internals -------------------------------------------------------------------

  private deltaLimit(): number {
    return this.fixedDeltaLimit ?? 4096;
  }

  private compactLimit(): number {
    return this.fixedCompactLimit ?? Math.max(4096, this.rowCount >>> 3);
  }

  private isDead(row: number): boolean {
    return (this.dead[row >>> 5]! & (1 << (row & 31))) !== 0;
  }

  private ensureRows(n: number): void {
    if (n <= this.rowIds.length) {
      if ((n >>> 5) >= this.dead.length) this.growDead(n);
      return;
    }
    const cap = Math.max(n, Math.ceil(this.rowIds.length * 1.5));
    const words = this.u32(cap * HASH_WORDS);
    words.set(this.words.subarray(0, this.rowCount * HASH_WORDS));
    this.words = words;
    const rowIds = new Uint32Array(cap);
    rowIds.set(this.rowIds.subarray(0, this.rowCount));
    this.rowIds = rowIds;
    this.growDead(cap);
  }

  private growDead(rows: number): void {
    const need = (rows >>> 5) + 1;
    if (need <= this.dead.length) return;
    const dead = this.u32(Math.max(need, this.dead.length * 2));
    dead.set(this.dead);
    this.dead = dead;
  }

  private ensureIds(n: number): void {
    if (n <= this.idRows.length) return;
    checkDense(n - 1, this.idRows.length);
    const idRows = new Int32Array(Math.max(n, Math.ceil(this.idRows.length * 1.5))).fill(-1);
    idRows.set(this.idRows);
    this.idRows = idRows;
  }

  /**
   * Folds the buffered rows [built, rowCount) into the postings by a sorted merge: per slot,
   * the few new (word, row) pairs are sorted and spliced into copies of the existing arrays
   * with bulk copies between them. Linear in the index size but only memory copies (a few
   * hundred ms at 10 M hashes), against seconds for a full rebuild.
   */
  private mergeDelta(): void {
    const from = this.built;
    const to = this.rowCount;
    const rows: number[] = [];
    for (let row = from; row < to; row++) if (!this.isDead(row)) rows.push(row);
    const d = rows.length;
    const words = this.words;
    for (let s = 0; s < SLOTS; s++) {
      const order = rows.map((r) => words[r * HASH_WORDS + s]!).map((w, i) => [w, rows[i]!] as const);
      order.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      const oldOffsets = this.offsets[s]!;
      const oldLows = this.lows[s]!;
      const oldRows = this.prow[s]!;
      const n = oldLows.length;
      const lows = this.u16(n + d);
      const prow = this.u32(n + d);
      const offsets = this.u32(BUCKETS + 1);
      let src = 0;
      let dst = 0;
      for (const [w, row] of order) {
        const b = w >>> 16;
        const lo = w & 0xffff;
        // insertion point: after every old posting of bucket b whose low bits are ≤ lo
        let a = Math.max(src, oldOffsets[b]!);
        let z = oldOffsets[b + 1]!;
        while (a < z) {
          const mid = (a + z) >>> 1;
          if (oldLows[mid]! <= lo) a = mid + 1;
          else z = mid;
        }
        if (a > src) {
          lows.set(oldLows.subarray(src, a), dst);
          prow.set(oldRows.subarray(src, a), dst);
          dst += a - src;
          src = a;
        }
        lows[dst] = lo;
        prow[dst] = row;
        dst++;
        offsets[b + 1]!++; // count of new postings per bucket, made cumulative below
      }
      lows.set(oldLows.subarray(src), dst);
      prow.set(oldRows.subarray(src), dst);
      let added = 0;
      for (let b = 0; b <= BUCKETS; b++) {
        added += b === 0 ? 0 : offsets[b]!;
        offsets[b] = oldOffsets[b]! + added;
      }
      this.offsets[s] = offsets;
      this.lows[s] = lows;
      this.prow[s] = prow;
    }
    this.built = to;
    this.version++;
  }

  /**
   * Rebuilds every slot's postings over the live rows [0, rowCount) with an LSD radix sort
   * (11 + 11 + 10 bits) of (slot word, row) pairs: linear time, no comparison sort, no
   * per-hash objects. 10 M hashes take a few seconds.
   */
  private buildPostings(): void {
    const n = this.rowCount;
    let live = 0;
    // Row arrays in shared memory when shared: after the sort one of them becomes the postings.
    const rowsA0 = this.u32(n - this.deadCount);
    for (let row = 0; row < n; row++) if (!this.isDead(row)) rowsA0[live++] = row;
    let keysA = new Uint32Array(live);
    let keysB = new Uint32Array(live);
    let rowsB = this.u32(live);
    const counts = new Uint32Array(1 << 11);
    for (let s = 0; s < SLOTS; s++) {
      let rowsA = rowsA0;
      if (s !== SLOTS - 1) {
        rowsA = this.u32(live);
        rowsA.set(rowsA0);
      }
      for (let i = 0; i < live; i++) keysA[i] = this.words[rowsA[i]! * HASH_WORDS + s]!;
      for (const [shift, bits] of [[0, 11], [11, 11], [22, 10]] as const) {
        const mask = (1 << bits) - 1;
        counts.fill(0);
        for (let i = 0; i < live; i++) counts[(keysA[i]! >>> shift) & mask]!++;
        let sum = 0;
        for (let b = 0; b <= mask; b++) {
          const c = counts[b]!;
          counts[b] = sum;
          sum += c;
        }
        for (let i = 0; i < live; i++) {
          const k = keysA[i]!;
          const d = counts[(k >>> shift) & mask]!++;
          keysB[d] = k;
          rowsB[d] = rowsA[i]!;
        }
        [keysA, keysB] = [keysB, keysA];
        [rowsA, rowsB] = [rowsB, rowsA];
      }
      const offsets = this.u32(BUCKETS + 1);
      const lows = this.u16(live);
      for (let i = 0; i < live; i++) {
        const k = keysA[i]!;
        offsets[(k >>> 16) + 1]!++;
        lows[i] = k & 0xffff;
      }
      for (let b = 0; b < BUCKETS; b++) offsets[b + 1]! += offsets[b]!;
      this.offsets[s] = offsets;
      this.lows[s] = lows;
      this.prow[s] = rowsA;
      // rowsA now belongs to the postings; rowsB is free scratch for the next slot.
    }
    this.built = n;
    this.version++;
  }

  /** Linear scan of rows [from, to) against every query hash. */
  private scanRows(from: number, to: number, q: Query, best: Map<number, number>): void {
    const w = this.words;
    const qw = q.words;
    const max = q.maxDistance;
    for (let row = from; row < to; row++) {
      if ((this.dead[row >>> 5]! & (1 << (row & 31))) !== 0) continue;
      const a = row * HASH_WORDS;
      for (let v = 0; v < q.count; v++) {
        const d = distanceCapped(w, a, qw, v * HASH_WORDS, max);
        if (d > max) continue;
        const packed = d * 256 + v;
        const prev = best.get(row);
        if (prev === undefined || packed < prev) best.set(row, packed);
      }
    }
  }
}

/**
 * Candidate rows found by the probes of one query hash. Module-level scratch (searches are
 * synchronous, so never shared by two at once); a typed buffer instead of a JS array keeps
 * the hot loops free of array growth checks and boxed numbers. Grown on demand.
 */
let hitBuf: Int32Array = new Int32Array(1 << 14);

function growHits(): Int32Array {
  const bigger = new Int32Array(hitBuf.length * 2);
  bigger.set(hitBuf);
  hitBuf = bigger;
  return hitBuf;
}

/** The one-bit neighbours of the query's low bits below this bit are found by scanning one block. */
const BLOCK_BITS = 12;

/** First position in lows[st, end) whose value is ≥ t (end if none): interpolation, then a short walk. */
function lowerBound(lows: Uint16Array, st: number, end: number, t: number): number {
  let p = (st + ((end - st) * t) / BUCKETS) | 0; // < end, since t < BUCKETS
  if (lows[p]! < t) {
    do p++;
    while (p < end && lows[p]! < t);
  } else {
    while (p > st && lows[p - 1]! >= t) p--;
  }
  return p;
}

let touchSink = 0;

/**
 * Appends to hitBuf (from position nh; returns the new count) the rows of every posting of
 * one slot whose 32-bit slot value lies within `radius` bits of `word`. Written as passes so
 * that the CPU overlaps the cache misses: first the bounds of every bucket (independent
 * loads), then a branch-free pass touching every line the filter will read, then the
 * filtering. Inside a bucket the low 16 bits are sorted and close to uniform, so a value is
 * found by interpolation plus a short walk (one cache line, usually).
 *
 * Filtering a bucket whose high bits differ in k bits keeps the postings whose low bits are
 * within allow = radius − k bits of the query's low bits qlo:
 *   allow = 0: the run equal to qlo;
 *   allow = 1 in a large bucket: the values within one bit of qlo are qlo itself, qlo with a
 *     bit < BLOCK_BITS flipped — all inside qlo's aligned block of 2^BLOCK_BITS values, which
 *     is scanned (≈ 2 % of the bucket) — and qlo with a bit ≥ BLOCK_BITS flipped, each looked
 *     up exactly; together every value within one bit, nothing missed;
 *   otherwise the whole bucket is scanned with an exact popcount test (bit tricks for 1 and
 *   2: x & (x − 1) clears the lowest set bit).
 */
function probeSlot(
  offsets: Uint32Array,
  lows: Uint16Array,
  prow: Uint32Array,
  word: number,
  radius: number,
  starts: Int32Array,
  ends: Int32Array,
  nh: number,
): number {
  if (lows.length === 0) return nh;
  const qhi = word >>> 16;
  const qlo = word & 0xffff;
  let n = 0;
  let room = 0; // most postings the filter below can append
  for (let k = 0; k <= radius; k++) {
    const masks = MASKS_BY_WEIGHT[k]!;
    for (let mi = 0; mi < masks.length; mi++) {
      const b = qhi ^ masks[mi]!;
      const st = offsets[b]!;
      const end = offsets[b + 1]!;
      starts[n] = st;
      ends[n] = end;
      room += end - st;
      n++;
    }
  }
  let hits = hitBuf;
  while (nh + room > hits.length) hits = growHits();
  // Touch every cache line the filtering below will read, in a branch-free loop whose
  // loads do not depend on each other, so that the misses overlap instead of queueing.
  let touched = 0;
  const lastLow = lows.length - 1;
  for (let i = 0; i < n; i++) {
    const st = starts[i]!;
    const len = ends[i]! - st;
    touched += lows[Math.min(st + (((len * qlo) / BUCKETS) | 0), lastLow)]!;
  }
  const wide = VOLUME_16[Math.max(0, radius - 1)]!; // buckets read across their whole length
  for (let i = 0; i < wide; i++) {
    for (let p = starts[i]! + 32, end = ends[i]!; p < end; p += 32) touched += lows[p]!;
  }
  touchSink ^= touched;
  const blockMask = (1 << BLOCK_BITS) - 1;
  const blockLo = qlo & ~blockMask;
  const blockHi = qlo | blockMask;
  let j = 0;
  for (let k = 0; k <= radius; k++) {
    const count = MASKS_BY_WEIGHT[k]!.length;
    const allow = radius - k;
    for (let c = 0; c < count; c++, j++) {
      const st = starts[j]!;
      const end = ends[j]!;
      if (end === st) continue;
      if (allow === 0) {
        for (let p = lowerBound(lows, st, end, qlo); p < end && lows[p] === qlo; p++) hits[nh++] = prow[p]!;
      } else if (allow === 1 && end - st > LOOKUP_MIN) {
        for (let p = lowerBound(lows, st, end, blockLo); p < end && lows[p]! <= blockHi; p++) {
          const x = lows[p]! ^ qlo;
          if ((x & (x - 1)) === 0) hits[nh++] = prow[p]!;
        }
        for (let bit = BLOCK_BITS; bit < 16; bit++) {
          const t = qlo ^ (1 << bit);
          for (let p = lowerBound(lows, st, end, t); p < end && lows[p] === t; p++) hits[nh++] = prow[p]!;
        }
      } else if (allow === 1) {
        for (let i = st; i < end; i++) {
          const x = lows[i]! ^ qlo;
          if ((x & (x - 1)) === 0) hits[nh++] = prow[i]!;
        }
      } else if (allow === 2) {
        for (let i = st; i < end; i++) {
          let x = lows[i]! ^ qlo;
          x &= x - 1;
          if ((x & (x - 1)) === 0) hits[nh++] = prow[i]!;
        }
      } else {
        for (let i = st; i < end; i++) if (POP16[lows[i]! ^ qlo]! <= allow) hits[nh++] = prow[i]!;
      }
    }
  }
  return nh;
}

/**
 * Multi-index probe of the postings for query variants [vFrom, vTo) of `queryWords` (8 words
 * each), verifying every candidate with its full distance into `best` (row → distance·256 +
 * variant, the smallest kept). Rows [built, …) are not covered (the caller scans them).
 * Standalone so that a worker thread can run it on the shared arrays (parallel.ts).
 */
export function probeVariants(
  st: SearchState,
  queryWords: Uint32Array,
  vFrom: number,
  vTo: number,
  radius: number,
  maxDistance: number,
  best: Map<number, number>,
): void {
  const { words, dead } = st;
  for (let v = vFrom; v < vTo; v++) {
    let nh = 0;
    for (let s = 0; s < SLOTS; s++) {
      nh = probeSlot(st.offsets[s]!, st.lows[s]!, st.prow[s]!, queryWords[v * HASH_WORDS + s]!, radius, scratchStarts, scratchEnds, nh);
    }
    const hits = hitBuf;
    const b = v * HASH_WORDS;
    for (let i = 0; i < nh; i++) {
      const row = hits[i]!;
      if ((dead[row >>> 5]! & (1 << (row & 31))) !== 0) continue;
      const a = row * HASH_WORDS;
      let d = 0;
      for (let k = 0; k < HASH_WORDS; k++) d += popcount32((words[a + k]! ^ queryWords[b + k]!) >>> 0);
      if (d > maxDistance) continue;
      const packed = d * 256 + v;
      const prev = best.get(row);
      if (prev === undefined || packed < prev) best.set(row, packed);
    }
  }
}

const scratchStarts = new Int32Array(VOLUME_16[MAX_RADIUS]!);
const scratchEnds = new Int32Array(VOLUME_16[MAX_RADIUS]!);

/**
 * Distance between the hashes at a[ai..) and b[bi..), stopping after the first half when
 * that half alone already exceeds `max` (the result is then some value > max).
 */
export function distanceCapped(a: Uint32Array, ai: number, b: Uint32Array, bi: number, max: number): number {
  let d =
    popcount32((a[ai]! ^ b[bi]!) >>> 0) +
    popcount32((a[ai + 1]! ^ b[bi + 1]!) >>> 0) +
    popcount32((a[ai + 2]! ^ b[bi + 2]!) >>> 0) +
    popcount32((a[ai + 3]! ^ b[bi + 3]!) >>> 0);
  if (d > max) return d;
  d +=
    popcount32((a[ai + 4]! ^ b[bi + 4]!) >>> 0) +
    popcount32((a[ai + 5]! ^ b[bi + 5]!) >>> 0) +
    popcount32((a[ai + 6]! ^ b[bi + 6]!) >>> 0) +
    popcount32((a[ai + 7]! ^ b[bi + 7]!) >>> 0);
  return d;
}

/**
 * The baseline: a linear scan of `n` hashes (8 words each, in `words`) against every query
 * hash. Returns row → smallest distance and the query index that gave it, sorted like
 * ReuseIndex.search (ids are rows here). Used by the tests and the benchmark.
 */
export function linearScan(
  words: Uint32Array,
  n: number,
  queries: readonly (string | Uint32Array)[],
  maxDistance = DEFAULT_MAX_DISTANCE,
): IndexMatch[] {
  const qw = new Uint32Array(queries.length * HASH_WORDS);
  queries.forEach((h, i) => (typeof h === 'string' ? hexToWords(h, qw, i * HASH_WORDS) : qw.set(h, i * HASH_WORDS)));
  const out: IndexMatch[] = [];
  for (let row = 0; row < n; row++) {
    let best = -1;
    let bestV = 0;
    for (let v = 0; v < queries.length; v++) {
      const d = distanceCapped(words, row * HASH_WORDS, qw, v * HASH_WORDS, maxDistance);
      if (d <= maxDistance && (best < 0 || d < best)) {
        best = d;
        bestV = v;
      }
    }
    if (best >= 0) out.push({ id: row, distance: best, variant: bestV });
  }
  out.sort((a, b) => a.distance - b.distance || a.id - b.id);
  return out;
}

/**
 * The id → row map is a dense array, so an id far beyond the ids in use would allocate
 * gigabytes; such an id is refused (database serials never jump like that).
 */
function checkDense(id: number, range: number): void {
  if (id >= Math.max(1 << 24, 4 * range)) {
    throw new ReuseInputError('bad_id', `id ${id} is far beyond the ids in use (up to ${range}); ids must be dense, like a database serial`);
  }
}

function checkId(id: number): void {
  if (!Number.isInteger(id) || id < 0 || id > MAX_ID) {
    throw new ReuseInputError('bad_id', `an index id is an integer 0–${MAX_ID}, not ${id}`);
  }
}

