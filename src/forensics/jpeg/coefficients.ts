// Reads the quantized DCT coefficients of a JPEG without going through pixels.
//
// Forensic detectors (double-compression, quantization-table and blocking analyses)
// need the coefficients exactly as stored; a pixel decoder such as sharp/libvips only
// gives the result after dequantization, IDCT, upsampling and colour conversion, with
// rounding that destroys the evidence. So this is a small entropy decoder of our own:
// baseline, extended-sequential (8-bit) and progressive Huffman JPEG.
//
// Input comes from claimants, so everything here is written for hostile bytes: every
// loop is bounded by the input length or by a frame size checked against `maxPixels`
// before anything is allocated, and every failure is a JpegCoefficientError with a
// stable code.

import { idct8x8, ZIGZAG } from './dct.ts';

export interface JpegComponentCoefficients {
  id: number; // component id from SOF
  h: number;
  v: number; // sampling factors
  /** Quantization table used by this component, 64 entries in natural (row-major) order. */
  quant: Uint16Array;
  /** Storage grid (MCU-padded): blocks per line and per column in `coefficients`. */
  blocksPerLine: number;
  blocksPerColumn: number;
  /** Blocks that cover the component's real extent: ceil(ceil(width*h/hmax)/8), same for height. */
  blocksWide: number;
  blocksHigh: number;
  /** Quantized coefficients (NOT multiplied by quant), 64 per block in natural row-major order
   *  (row*8+col of the 8x8 DCT), blocks row-major over the storage grid. */
  coefficients: Int16Array;
  /** Quantization table slot (0-3) the component refers to in SOF. */
  quantTableId: number;
}

export interface JpegCoefficients {
  width: number;
  height: number;
  progressive: boolean;
  /** SOF marker type, e.g. 0xc0, 0xc1, 0xc2 */
  frameType: number;
  restartInterval: number;
  components: JpegComponentCoefficients[];
  /** Number of SOS scans decoded. */
  scans: number;
  /**
   * The entropy data was damaged and decoding resynchronised or skipped data (what libjpeg
   * reports as a warning): coefficients after the damage do not describe the picture.
   */
  damaged: boolean;
}

export type JpegCoefficientErrorCode = 'not_jpeg' | 'unsupported' | 'truncated' | 'corrupt' | 'too_large';

export class JpegCoefficientError extends Error {
  readonly code: JpegCoefficientErrorCode;
  constructor(code: JpegCoefficientErrorCode, message: string) {
    super(message);
    this.name = 'JpegCoefficientError';
    this.code = code;
  }
}

export interface ReadJpegCoefficientsOptions {
  /** Refuse frames with more pixels than this (checked before allocating). Default 100 000 000. */
  maxPixels?: number;
}

const FAST_BITS = 9;
const FAST_SIZE = 1 << FAST_BITS;

/** A Huffman table in the form the decoder wants: a FAST_BITS-bit lookup for the short codes
 *  (almost all of them in practice) and canonical max-code tables for the rest. */
interface HuffTable {
  /** (length << 8) | symbol, or 0 when the code is longer than FAST_BITS. */
  fast: Uint16Array;
  /** maxCode[l]: largest code of length l, -1 if none. Index 17 is a sentinel. */
  maxCode: Int32Array;
  /** valOffset[l]: add to a code of length l to index `values`. */
  valOffset: Int32Array;
  values: Uint8Array;
  /** For AC tables: codes whose run/size symbol and value bits together fit in FAST_BITS,
   *  decoded in one lookup as (value << 16) | (run << 4) | totalBits; 0 when not available.
   *  Most AC coefficients of photos are small and hit this. */
  fastAc: Int32Array;
}

function buildHuffTable(counts: Uint8Array, values: Uint8Array): HuffTable {
  const fast = new Uint16Array(FAST_SIZE);
  const maxCode = new Int32Array(18).fill(-1);
  const valOffset = new Int32Array(18);
  let code = 0;
  let k = 0;
  for (let len = 1; len <= 16; len++) {
    const n = counts[len - 1]!;
    valOffset[len] = k - code;
    if (n > 0) {
      // Canonical codes of one length are consecutive; if they do not fit in `len` bits the
      // table is impossible (a decoder would otherwise read garbage indices).
      if (code + n > 1 << len) throw new JpegCoefficientError('corrupt', `Huffman table has too many codes of length ${len}`);
      for (let i = 0; i < n; i++, code++, k++) {
        if (len <= FAST_BITS) {
          const shift = FAST_BITS - len;
          const base = code << shift;
          const entry = (len << 8) | values[k]!;
          for (let j = 0; j < 1 << shift; j++) fast[base + j] = entry;
        }
      }
      maxCode[len] = code - 1;
    }
    code <<= 1;
  }
  maxCode[17] = 0x7fffffff;
  const fastAc = new Int32Array(FAST_SIZE);
  for (let i = 0; i < FAST_SIZE; i++) {
    const e = fast[i]!;
    if (e === 0) continue;
    const codeLen = e >> 8;
    const rs = e & 0xff;
    const run = rs >> 4;
    const size = rs & 15;
    if (size === 0 || codeLen + size > FAST_BITS) continue;
    const bits = (i >> (FAST_BITS - codeLen - size)) & ((1 << size) - 1);
    const value = bits < 1 << (size - 1) ? bits - (1 << size) + 1 : bits;
    fastAc[i] = (value << 16) | (run << 4) | (codeLen + size);
  }
  return { fast, maxCode, valOffset, values, fastAc };
}

/**
 * Bit reader over the entropy-coded segment. Bits sit in a 32-bit accumulator `acc`, the
 * valid ones being the low `nbits`. When a marker is reached the reader stops consuming
 * input and feeds zero bits (counted in `padded`), as libjpeg does, so the caller decides
 * what running past the data means.
 */
class BitReader {
  acc = 0;
  nbits = 0;
  pos: number;
  /** Byte after 0xFF of the marker that stopped the reader, or 0. */
  marker = 0;
  /** Zero bits fed after the marker. */
  padded = 0;
  /**
   * Places where the entropy data was damaged and decoding resynchronised (an interval that ran
   * short or long, restart markers out of order, bytes no encoder writes, data left over at the
   * end of a scan). libjpeg decodes such files with a warning; their coefficients after the
   * damage are garbage, which a forensic reading must not take for evidence.
   */
  damage = 0;
  readonly data: Uint8Array;
  readonly end: number;

  constructor(data: Uint8Array, pos: number) {
    this.data = data;
    this.pos = pos;
    this.end = data.length;
  }

  fill(): void {
    const data = this.data;
    while (this.nbits <= 24) {
      let b = 0;
      if (this.marker === 0) {
        if (this.pos >= this.end) {
          // Entropy data always ends with a marker (EOI at least); running out of input
          // means the file was cut.
          throw new JpegCoefficientError('truncated', 'entropy-coded data ends without a marker (file truncated)');
        }
        b = data[this.pos++]!;
        if (b === 0xff) {
          // Skip fill bytes (0xFF 0xFF ...) then decide: 0x00 is a stuffed 0xFF data byte,
          // anything else is a marker.
          let p = this.pos;
          while (p < this.end && data[p] === 0xff) p++;
          if (p >= this.end) throw new JpegCoefficientError('truncated', 'entropy-coded data ends inside a marker');
          const m = data[p]!;
          if (m === 0) {
            this.pos = p + 1;
          } else {
            this.marker = m;
            this.pos = p - 1; // at the 0xFF that introduces the marker
            b = 0;
            this.padded += 8;
          }
        }
      } else {
        this.padded += 8;
        // Feeding zeros forever would let a broken scan decode millions of MCUs of nothing;
        // far beyond any real encoder slip, so call the data truncated.
        if (this.padded > 1 << 16) throw new JpegCoefficientError('truncated', 'entropy-coded data ends early');
      }
      this.acc = (this.acc << 8) | b;
      this.nbits += 8;
    }
  }

  /** Data bits (not padding) fetched but not consumed. */
  unusedDataBits(): number {
    return Math.max(0, this.nbits - this.padded);
  }

  /** Zero bits that were actually consumed (not just prefetched). */
  paddingConsumed(): number {
    return this.padded - this.nbits;
  }

  getBits(n: number): number {
    if (this.nbits < n) this.fill();
    this.nbits -= n;
    return (this.acc >>> this.nbits) & ((1 << n) - 1);
  }

  getBit(): number {
    if (this.nbits < 1) this.fill();
    this.nbits--;
    return (this.acc >>> this.nbits) & 1;
  }

  /** Reads `s` bits and sign-extends them as JPEG's RECEIVE/EXTEND. */
  receiveExtend(s: number): number {
    if (this.nbits < s) this.fill();
    this.nbits -= s;
    const v = (this.acc >>> this.nbits) & ((1 << s) - 1);
    return v < 1 << (s - 1) ? v - (1 << s) + 1 : v;
  }

  decode(t: HuffTable): number {
    if (this.nbits < 16) this.fill();
    const e = t.fast[(this.acc >>> (this.nbits - FAST_BITS)) & (FAST_SIZE - 1)]!;
    if (e !== 0) {
      this.nbits -= e >> 8;
      return e & 0xff;
    }
    const code16 = (this.acc >>> (this.nbits - 16)) & 0xffff;
    let len = FAST_BITS + 1;
    let code = code16 >>> (16 - len);
    while (len <= 16 && code > t.maxCode[len]!) {
      len++;
      code = code16 >>> (16 - len);
    }
    if (len > 16) this.bad('invalid Huffman code');
    this.nbits -= len;
    const idx = code + t.valOffset[len]!;
    if (idx < 0 || idx >= t.values.length) this.bad('invalid Huffman code');
    return t.values[idx]!;
  }

  /** Entropy data that makes no sense: if it is only because we ran into the zero padding
   *  after a premature marker, it is a truncation, not corruption. */
  bad(msg: string): never {
    if (this.paddingConsumed() > 0) {
      // Before an RSTn or an invalid marker the data is damaged, not cut: there is more after it.
      if (isDamageMarker(this.marker)) throw new JpegCoefficientError('corrupt', `restart interval ends early (${msg} in padding)`);
      throw new JpegCoefficientError('truncated', `entropy-coded data ends early (${msg} in padding)`);
    }
    throw new JpegCoefficientError('corrupt', msg);
  }

  /** Drops buffered bits (restart boundaries and scan ends are byte-aligned). */
  reset(): void {
    this.acc = 0;
    this.nbits = 0;
    this.padded = 0;
  }
}

interface FrameComponent {
  id: number;
  h: number;
  v: number;
  tq: number;
  quant: Uint16Array | null;
  blocksPerLine: number;
  blocksPerColumn: number;
  blocksWide: number;
  blocksHigh: number;
  coefficients: Int16Array;
  // Per-scan state.
  dcTable: HuffTable | null;
  acTable: HuffTable | null;
  pred: number;
}

const SUPPORTED_FRAMES = new Set([0xc0, 0xc1, 0xc2]);
const UNSUPPORTED_FRAMES = new Set([0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

function frameName(m: number): string {
  switch (m) {
    case 0xc3:
      return 'lossless';
    case 0xc5:
    case 0xc6:
    case 0xc7:
      return 'hierarchical';
    default:
      return 'arithmetic-coded';
  }
}

/**
 * Decodes the entropy-coded data of a JPEG into quantized DCT coefficients.
 * Throws JpegCoefficientError for anything it cannot or will not read.
 */
export function readJpegCoefficients(bytes: Uint8Array, opts: ReadJpegCoefficientsOptions = {}): JpegCoefficients {
  const maxPixels = opts.maxPixels ?? 100_000_000;
  const data = bytes;
  const len = data.length;
  if (len < 2 || data[0] !== 0xff || data[1] !== 0xd8) throw new JpegCoefficientError('not_jpeg', 'no JPEG start-of-image marker');

  const quantTables: (Uint16Array | null)[] = [null, null, null, null];
  const dcTables: (HuffTable | null)[] = [null, null, null, null];
  const acTables: (HuffTable | null)[] = [null, null, null, null];
  let frame: { type: number; width: number; height: number; comps: FrameComponent[]; mcusX: number; mcusY: number; totalBlocks: number } | null = null;
  let restartInterval = 0;
  let scans = 0;
  let damage = 0;
  let blockVisits = 0;
  let sawEoi = false;
  let pos = 2;

  /** Reads a segment's 16-bit length and checks it fits in the file. Returns the payload end. */
  const segmentEnd = (at: number): number => {
    if (at + 2 > len) throw new JpegCoefficientError('truncated', 'segment length past end of file');
    const l = (data[at]! << 8) | data[at + 1]!;
    if (l < 2) throw new JpegCoefficientError('corrupt', 'segment length below 2');
    if (at + l > len) throw new JpegCoefficientError('truncated', 'segment extends past end of file');
    return at + l;
  };

  while (pos < len) {
    // Find the next marker; tolerate junk between segments (some writers leave it) but the
    // scan is bounded by the input.
    if (data[pos] !== 0xff) {
      pos++;
      continue;
    }
    while (pos < len && data[pos] === 0xff) pos++;
    if (pos >= len) break;
    const marker = data[pos++]!;
    if (marker === 0x00) continue; // a stuffed byte in junk, not a marker
    if (marker === 0xd9) {
      sawEoi = true;
      break;
    }
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01 || marker === 0xd8) continue; // stand-alone markers
    const end = segmentEnd(pos);
    const p0 = pos + 2;

    if (marker === 0xdb) {
      // DQT: one or more tables, 8- or 16-bit entries, stored in zigzag order.
      let p = p0;
      while (p < end) {
        const pq = data[p]! >> 4;
        const tq = data[p]! & 15;
        p++;
        if (pq > 1 || tq > 3) throw new JpegCoefficientError('corrupt', 'bad DQT table spec');
        const need = pq ? 128 : 64;
        if (p + need > end) throw new JpegCoefficientError('corrupt', 'DQT table overruns its segment');
        const q = new Uint16Array(64);
        for (let i = 0; i < 64; i++) q[ZIGZAG[i]!] = pq ? (data[p + 2 * i]! << 8) | data[p + 2 * i + 1]! : data[p + i]!;
        p += need;
        quantTables[tq] = q;
      }
    } else if (marker === 0xc4) {
      let p = p0;
      while (p < end) {
        if (p + 17 > end) throw new JpegCoefficientError('corrupt', 'DHT table overruns its segment');
        const tc = data[p]! >> 4;
        const th = data[p]! & 15;
        if (tc > 1 || th > 3) throw new JpegCoefficientError('corrupt', 'bad DHT table spec');
        const counts = data.subarray(p + 1, p + 17);
        let total = 0;
        for (let i = 0; i < 16; i++) total += counts[i]!;
        if (total > 256) throw new JpegCoefficientError('corrupt', 'DHT table has more than 256 codes');
        p += 17;
        if (p + total > end) throw new JpegCoefficientError('corrupt', 'DHT values overrun their segment');
        // A copy: on a Node Buffer slice() would be a view of the caller's bytes.
        const t = buildHuffTable(counts, new Uint8Array(data.subarray(p, p + total)));
        p += total;
        (tc === 0 ? dcTables : acTables)[th] = t;
      }
    } else if (marker === 0xdd) {
      if (end - p0 < 2) throw new JpegCoefficientError('corrupt', 'short DRI segment');
      restartInterval = (data[p0]! << 8) | data[p0 + 1]!;
    } else if (SUPPORTED_FRAMES.has(marker) || UNSUPPORTED_FRAMES.has(marker)) {
      if (UNSUPPORTED_FRAMES.has(marker)) throw new JpegCoefficientError('unsupported', `${frameName(marker)} JPEG (SOF 0x${marker.toString(16)}) is not supported`);
      if (frame) throw new JpegCoefficientError('corrupt', 'more than one frame header');
      if (end - p0 < 6) throw new JpegCoefficientError('corrupt', 'short SOF segment');
      const precision = data[p0]!;
      const height = (data[p0 + 1]! << 8) | data[p0 + 2]!;
      const width = (data[p0 + 3]! << 8) | data[p0 + 4]!;
      const nc = data[p0 + 5]!;
      if (precision !== 8) throw new JpegCoefficientError('unsupported', `${precision}-bit sample precision is not supported`);
      if (width === 0 || height === 0) throw new JpegCoefficientError('corrupt', `frame dimensions ${width}x${height} (DNL-defined height is not supported)`);
      if (nc < 1 || nc > 4) throw new JpegCoefficientError(nc === 0 ? 'corrupt' : 'unsupported', `${nc} components`);
      if (end - p0 < 6 + 3 * nc) throw new JpegCoefficientError('corrupt', 'short SOF segment');
      if (width * height > maxPixels) throw new JpegCoefficientError('too_large', `${width}x${height} exceeds the ${maxPixels}-pixel limit`);
      const raw: { id: number; h: number; v: number; tq: number }[] = [];
      let hmax = 1;
      let vmax = 1;
      for (let i = 0; i < nc; i++) {
        const q = p0 + 6 + 3 * i;
        const id = data[q]!;
        const h = data[q + 1]! >> 4;
        const v = data[q + 1]! & 15;
        const tq = data[q + 2]!;
        if (h < 1 || h > 4 || v < 1 || v > 4) throw new JpegCoefficientError('corrupt', `component ${id} has sampling factors ${h}x${v}`);
        if (tq > 3) throw new JpegCoefficientError('corrupt', `component ${id} uses quantization table ${tq}`);
        if (raw.some((c) => c.id === id)) throw new JpegCoefficientError('corrupt', `duplicate component id ${id}`);
        raw.push({ id, h, v, tq });
        hmax = Math.max(hmax, h);
        vmax = Math.max(vmax, v);
      }
      const mcusX = Math.ceil(width / (8 * hmax));
      const mcusY = Math.ceil(height / (8 * vmax));
      // The pixel limit alone does not bound memory: MCU padding of a degenerate frame (say
      // 1 pixel wide with 4x4 sampling) multiplies the storage. Allow up to four full-resolution
      // components plus one padded MCU row/column worth of slack, checked before allocating
      // (each coefficient is 2 bytes).
      let totalBlocks = 0;
      for (const c of raw) totalBlocks += mcusX * c.h * mcusY * c.v;
      if (totalBlocks * 64 > 4 * maxPixels + 4 * 64 * 64 * 16) {
        throw new JpegCoefficientError('too_large', `${totalBlocks} blocks exceed the limit for ${maxPixels} pixels`);
      }
      const comps: FrameComponent[] = raw.map((c) => {
        const blocksPerLine = mcusX * c.h;
        const blocksPerColumn = mcusY * c.v;
        return {
          id: c.id,
          h: c.h,
          v: c.v,
          tq: c.tq,
          quant: null,
          blocksPerLine,
          blocksPerColumn,
          blocksWide: Math.ceil(Math.ceil((width * c.h) / hmax) / 8),
          blocksHigh: Math.ceil(Math.ceil((height * c.v) / vmax) / 8),
          coefficients: new Int16Array(blocksPerLine * blocksPerColumn * 64),
          dcTable: null,
          acTable: null,
          pred: 0,
        };
      });
      frame = { type: marker, width, height, comps, mcusX, mcusY, totalBlocks };
    } else if (marker === 0xda) {
      if (!frame) throw new JpegCoefficientError('corrupt', 'scan before frame header');
      const ns = data[p0]!;
      if (ns < 1 || ns > 4 || end - p0 < 1 + 2 * ns + 3) throw new JpegCoefficientError('corrupt', 'bad SOS header');
      const scomps: FrameComponent[] = [];
      for (let i = 0; i < ns; i++) {
        const cid = data[p0 + 1 + 2 * i]!;
        const tables = data[p0 + 2 + 2 * i]!;
        const c = frame.comps.find((x) => x.id === cid);
        if (!c || scomps.includes(c)) throw new JpegCoefficientError('corrupt', `scan refers to unknown or repeated component ${cid}`);
        if (tables >> 4 > 3 || (tables & 15) > 3) throw new JpegCoefficientError('corrupt', 'bad Huffman table selector');
        c.dcTable = dcTables[tables >> 4]!;
        c.acTable = acTables[tables & 15]!;
        // Dequantization uses the table in force when the component is first scanned (libjpeg latches it there too).
        if (!c.quant) {
          const q = quantTables[c.tq];
          if (!q) throw new JpegCoefficientError('corrupt', `quantization table ${c.tq} is not defined`);
          c.quant = q.slice();
        }
        scomps.push(c);
      }
      const q = p0 + 1 + 2 * ns;
      const ss = data[q]!;
      const se = data[q + 1]!;
      const ah = data[q + 2]! >> 4;
      const al = data[q + 2]! & 15;
      const progressive = frame.type === 0xc2;
      if (progressive) {
        if (ss > se || se > 63 || (ss === 0 && se !== 0) || (ss > 0 && ns !== 1) || ah > 13 || al > 13) {
          throw new JpegCoefficientError('corrupt', `bad progressive scan parameters Ss=${ss} Se=${se} Ah=${ah} Al=${al}`);
        }
      }
      if (ns > 1) {
        let blocksPerMcu = 0;
        for (const c of scomps) blocksPerMcu += c.h * c.v;
        if (blocksPerMcu > 10) throw new JpegCoefficientError('corrupt', `${blocksPerMcu} blocks per MCU (limit 10)`);
      }
      // Bound the total work: a tiny file could otherwise declare a large frame and thousands of
      // scans that each walk every block (EOB runs cost no input bits). No real encoder puts a
      // component in anywhere near 64 scans.
      let visits = 0;
      if (ns === 1) visits = scomps[0]!.blocksWide * scomps[0]!.blocksHigh;
      else for (const c of scomps) visits += frame.mcusX * frame.mcusY * c.h * c.v;
      blockVisits += visits;
      if (blockVisits > 64 * frame.totalBlocks) throw new JpegCoefficientError('corrupt', `too many scans (${scans + 1}) for the frame`);
      const rd = new BitReader(data, end);
      decodeScan(rd, frame, scomps, progressive, ss, se, ah, al, restartInterval);
      damage += rd.damage;
      scans++;
      pos = rd.pos;
      continue;
    } else if (marker === 0xdc) {
      // DNL: only meaningful with a zero height in SOF, which we refuse.
    }
    // APPn, COM, DAC, JPGn and anything else with a length: skipped.
    pos = end;
  }

  if (!frame) throw new JpegCoefficientError(sawEoi ? 'corrupt' : 'truncated', 'no frame header');
  if (scans === 0) throw new JpegCoefficientError(sawEoi ? 'corrupt' : 'truncated', 'no scan');
  if (!sawEoi) throw new JpegCoefficientError('truncated', 'no end-of-image marker');

  return {
    width: frame.width,
    height: frame.height,
    progressive: frame.type === 0xc2,
    frameType: frame.type,
    restartInterval,
    scans,
    damaged: damage > 0,
    components: frame.comps.map((c) => ({
      id: c.id,
      h: c.h,
      v: c.v,
      quantTableId: c.tq,
      // A component no scan covered keeps zero coefficients; give it whatever table is defined.
      quant: c.quant ?? quantTables[c.tq]?.slice() ?? new Uint16Array(64),
      blocksPerLine: c.blocksPerLine,
      blocksPerColumn: c.blocksPerColumn,
      blocksWide: c.blocksWide,
      blocksHigh: c.blocksHigh,
      coefficients: c.coefficients,
    })),
  };
}

const DC_FIRST = 0;
const DC_REFINE = 1;
const AC_FIRST = 2;
const AC_REFINE = 3;

/** Parameters and the EOB run of one progressive scan. */
interface ProgressiveState {
  kind: number;
  ss: number;
  se: number;
  al: number;
  /** 1 << al and -1 << al: the bit a refinement scan adds, with sign. */
  p1: number;
  m1: number;
  eobrun: number;
}

/** One block of a progressive scan. A plain function with a switch keeps the call sites in
 *  the block loops monomorphic (closures per scan kind made them megamorphic and 3x slower). */
function decodeProgressiveBlock(rd: BitReader, st: ProgressiveState, c: FrameComponent, off: number): void {
  const coefs = c.coefficients;
  switch (st.kind) {
    case DC_FIRST: {
      const s = rd.decode(c.dcTable!);
      if (s > 15) rd.bad('DC difference category above 15');
      if (s !== 0) c.pred += rd.receiveExtend(s);
      coefs[off] = c.pred * (1 << st.al);
      return;
    }
    case DC_REFINE:
      if (rd.getBit()) coefs[off] |= st.p1;
      return;
    case AC_FIRST: {
      if (st.eobrun > 0) {
        st.eobrun--;
        return;
      }
      const ac = c.acTable!;
      const fastAc = ac.fastAc;
      const se = st.se;
      const scale = st.p1;
      for (let k = st.ss; k <= se; ) {
        if (rd.nbits < 16) rd.fill();
        const fa = fastAc[(rd.acc >>> (rd.nbits - FAST_BITS)) & (FAST_SIZE - 1)]!;
        let value: number;
        if (fa !== 0) {
          rd.nbits -= fa & 15;
          k += (fa >> 4) & 15;
          value = fa >> 16;
        } else {
          const rs = rd.decode(ac);
          const r = rs >> 4;
          const sz = rs & 15;
          if (sz === 0) {
            if (r < 15) {
              // EOBn: this block and the next (2^r - 1 + extra) have nothing more in this band.
              st.eobrun = (1 << r) - 1;
              if (r > 0) st.eobrun += rd.getBits(r);
              return;
            }
            k += 16;
            continue;
          }
          k += r;
          value = rd.receiveExtend(sz);
        }
        if (k > se) rd.bad('coefficient index beyond the spectral band');
        coefs[off + ZIGZAG[k]!] = value * scale;
        k++;
      }
      return;
    }
    default: {
      // Refinement: one correction bit per already-nonzero coefficient, for every block, so
      // this is the busiest loop of a progressive file. The bit buffer is in locals here; the
      // reader only sees it around refills and the Huffman slow path.
      const p1 = st.p1;
      const m1 = st.m1;
      const se = st.se;
      let acc = rd.acc;
      let nbits = rd.nbits;
      let k = st.ss;
      if (st.eobrun === 0) {
        const ac = c.acTable!;
        const fast = ac.fast;
        for (; k <= se; k++) {
          if (nbits < 16) {
            rd.nbits = nbits;
            rd.fill();
            acc = rd.acc;
            nbits = rd.nbits;
          }
          const e = fast[(acc >>> (nbits - FAST_BITS)) & (FAST_SIZE - 1)]!;
          let rs: number;
          if (e !== 0) {
            nbits -= e >> 8;
            rs = e & 0xff;
          } else {
            rd.nbits = nbits;
            rs = rd.decode(ac);
            acc = rd.acc;
            nbits = rd.nbits;
          }
          let r = rs >> 4;
          const sz = rs & 15;
          let val = 0;
          if (sz !== 0) {
            if (sz !== 1) {
              rd.nbits = nbits;
              rd.bad('refinement coefficient size other than 1');
            }
            // nbits >= 16 - 16 could be 0 after a 16-bit code: refill before the sign bit.
            if (nbits < 1) {
              rd.nbits = nbits;
              rd.fill();
              acc = rd.acc;
              nbits = rd.nbits;
            }
            nbits--;
            val = (acc >>> nbits) & 1 ? p1 : m1;
          } else if (r !== 15) {
            rd.nbits = nbits;
            st.eobrun = 1 << r;
            if (r > 0) st.eobrun += rd.getBits(r);
            acc = rd.acc;
            nbits = rd.nbits;
            break;
          }
          // Walk over coefficients: already-nonzero ones get a correction bit, zero ones count
          // down the run; the new coefficient goes in the first zero after the run.
          while (k <= se) {
            const z = off + ZIGZAG[k]!;
            const cv = coefs[z]!;
            if (cv !== 0) {
              if (nbits < 1) {
                rd.nbits = nbits;
                rd.fill();
                acc = rd.acc;
                nbits = rd.nbits;
              }
              nbits--;
              if ((acc >>> nbits) & 1 && (cv & p1) === 0) coefs[z] = cv >= 0 ? cv + p1 : cv + m1;
            } else {
              if (r === 0) break;
              r--;
            }
            k++;
          }
          if (val !== 0) {
            if (k > se) {
              rd.nbits = nbits;
              rd.bad('refinement coefficient beyond the spectral band');
            }
            coefs[off + ZIGZAG[k]!] = val;
          }
        }
      }
      if (st.eobrun > 0) {
        for (; k <= se; k++) {
          const z = off + ZIGZAG[k]!;
          const cv = coefs[z]!;
          if (cv !== 0) {
            if (nbits < 1) {
              rd.nbits = nbits;
              rd.fill();
              acc = rd.acc;
              nbits = rd.nbits;
            }
            nbits--;
            if ((acc >>> nbits) & 1 && (cv & p1) === 0) coefs[z] = cv >= 0 ? cv + p1 : cv + m1;
          }
        }
        st.eobrun--;
      }
      rd.nbits = nbits;
    }
  }
}

function decodeScan(
  rd: BitReader,
  frame: { comps: FrameComponent[]; mcusX: number; mcusY: number },
  scomps: FrameComponent[],
  progressive: boolean,
  ss: number,
  se: number,
  ah: number,
  al: number,
  restartInterval: number,
): void {
  const needDc = !progressive || (ss === 0 && ah === 0);
  const needAc = !progressive || ss > 0;
  for (const c of scomps) {
    if (needDc && !c.dcTable) throw new JpegCoefficientError('corrupt', `scan uses an undefined DC Huffman table (component ${c.id})`);
    if (needAc && !c.acTable) throw new JpegCoefficientError('corrupt', `scan uses an undefined AC Huffman table (component ${c.id})`);
    c.pred = 0;
  }
  // Sequential scans use decodeSequentialScan; progressive ones one of the four block kinds.
  const st: ProgressiveState = {
    kind: ss === 0 ? (ah === 0 ? DC_FIRST : DC_REFINE) : ah === 0 ? AC_FIRST : AC_REFINE,
    ss,
    se,
    al,
    p1: 1 << al,
    m1: -1 << al,
    eobrun: 0,
  };

  let nextRst = 0;
  const restart = (): void => {
    // Restart boundaries are byte-aligned: drop leftover bits, then expect RST(nextRst).
    // Damaged data is resynchronised the way libjpeg does it, so one bad interval costs that
    // interval and not the rest of the picture:
    // - an interval that ran short (zero padding consumed) before an RSTn or an invalid
    //   marker is damage; its remaining MCUs were left zero. Short before any other marker
    //   means the data ends early.
    // - an interval with data left over: skip to the next marker.
    // - RSTn from the future (1-3 ahead): leave it, the intervals in between stay zero.
    // - RSTn from the past, or a byte pair that is no valid marker (0xFF01-0xFFBF, a damaged
    //   byte): discard it and look further.
    // - any other marker: leave it for the segment parser; the remaining MCUs stay zero and
    //   the scan end reports truncation.
    if (rd.paddingConsumed() > 0 && !isDamageMarker(rd.marker)) {
      throw new JpegCoefficientError('truncated', 'entropy-coded segment ends early');
    }
    // an interval that ran short, or one with a whole byte of data left over
    if (rd.paddingConsumed() > 0 || rd.unusedDataBits() >= 8) rd.damage++;
    rd.reset();
    const data = rd.data;
    // Each pass either stops or moves past a marker, so this is bounded by the input length.
    for (;;) {
      if (rd.marker === 0) {
        let p = rd.pos;
        while (p + 1 < rd.end && !(data[p] === 0xff && data[p + 1] !== 0 && data[p + 1] !== 0xff)) p++;
        if (p + 1 >= rd.end) throw new JpegCoefficientError('truncated', 'entropy-coded data ends before a restart marker');
        if (p > rd.pos) rd.damage++;
        rd.pos = p;
        rd.marker = data[p + 1]!;
      }
      const m = rd.marker;
      if (m < 0xc0) {
        // Not a marker any encoder writes here: a damaged byte after 0xFF. Skip it.
        rd.damage++;
        rd.pos += 2;
        rd.marker = 0;
        continue;
      }
      if (m < 0xd0 || m > 0xd7) break;
      const delta = (m - 0xd0 - nextRst) & 7;
      if (delta === 0 || delta === 4) {
        if (delta === 4) rd.damage++;
        rd.pos += 2;
        rd.marker = 0;
        break;
      }
      rd.damage++;
      if (delta < 4) break;
      rd.pos += 2;
      rd.marker = 0;
    }
    nextRst = (nextRst + 1) & 7;
    st.eobrun = 0;
    for (const c of scomps) c.pred = 0;
  };

  if (!progressive) {
    decodeSequentialScan(rd, frame, scomps, restartInterval, restart);
  } else if (scomps.length === 1) {
    // Non-interleaved: the component's own block grid, one block per MCU.
    const c = scomps[0]!;
    const bw = c.blocksWide;
    const bh = c.blocksHigh;
    const bpl = c.blocksPerLine;
    let todo = restartInterval;
    for (let by = 0; by < bh; by++) {
      for (let bx = 0; bx < bw; bx++) {
        if (restartInterval > 0) {
          if (todo === 0) {
            restart();
            todo = restartInterval;
          }
          todo--;
        }
        // no data left: see decodeSequentialScan (not damage here: an end-of-band run may
        // cover the scan's last blocks, which then need no bits)
        if (rd.marker !== 0 && rd.nbits <= rd.padded) continue;
        decodeProgressiveBlock(rd, st, c, (by * bpl + bx) * 64);
      }
    }
  } else {
    const { mcusX, mcusY } = frame;
    let todo = restartInterval;
    for (let my = 0; my < mcusY; my++) {
      for (let mx = 0; mx < mcusX; mx++) {
        if (restartInterval > 0) {
          if (todo === 0) {
            restart();
            todo = restartInterval;
          }
          todo--;
        }
        // no data left: see decodeSequentialScan (not damage here: an end-of-band run may
        // cover the scan's last blocks, which then need no bits)
        if (rd.marker !== 0 && rd.nbits <= rd.padded) continue;
        for (let i = 0; i < scomps.length; i++) {
          const c = scomps[i]!;
          const h = c.h;
          const v = c.v;
          const bpl = c.blocksPerLine;
          for (let y = 0; y < v; y++) {
            const row = (my * v + y) * bpl + mx * h;
            for (let x = 0; x < h; x++) decodeProgressiveBlock(rd, st, c, (row + x) * 64);
          }
        }
      }
    }
  }
  checkPadding(rd);
  // A whole byte of data the scan did not need is what libjpeg calls extraneous data: the
  // entropy data went out of step somewhere.
  if (rd.unusedDataBits() >= 8) rd.damage++;
  // Leave the reader at the next marker for the segment parser.
  if (rd.marker === 0) {
    // Bits left over were fill; skip any remaining bytes to the next marker.
    const data = rd.data;
    let p = rd.pos;
    while (p + 1 < rd.end && !(data[p] === 0xff && data[p + 1] !== 0 && data[p + 1] !== 0xff)) p++;
    if (p > rd.pos) rd.damage++;
    rd.pos = p;
  }
}

/**
 * Baseline/extended sequential scan: the hot path for camera photos. The bit buffer lives in
 * local variables (V8 keeps them in registers; object fields would be loaded and stored on
 * every code) and is handed back to the BitReader only for refills, the rare long codes and
 * restarts. Coefficient writes go to the component's array at precomputed block offsets.
 */
function decodeSequentialScan(
  rd: BitReader,
  frame: { mcusX: number; mcusY: number },
  scomps: FrameComponent[],
  restartInterval: number,
  restart: () => void,
): void {
  // One entry per block of an MCU: which scan component, and its offset from the
  // component's MCU origin. A single-component scan walks the component's own grid.
  const single = scomps.length === 1;
  const blockComp: number[] = [];
  const blockRel: number[] = [];
  for (let i = 0; i < scomps.length; i++) {
    const c = scomps[i]!;
    const h = single ? 1 : c.h;
    const v = single ? 1 : c.v;
    for (let y = 0; y < v; y++) for (let x = 0; x < h; x++) {
      blockComp.push(i);
      blockRel.push((y * c.blocksPerLine + x) * 64);
    }
  }
  const nb = blockComp.length;
  const mcusX = single ? scomps[0]!.blocksWide : frame.mcusX;
  const mcusY = single ? scomps[0]!.blocksHigh : frame.mcusY;
  const coefArr = scomps.map((c) => c.coefficients);
  const dcArr = scomps.map((c) => c.dcTable!);
  const acArr = scomps.map((c) => c.acTable!);
  const preds = new Int32Array(scomps.length);
  const rowStride = scomps.map((c) => (single ? 1 : c.v) * c.blocksPerLine * 64);
  const colStride = scomps.map((c) => (single ? 1 : c.h) * 64);
  const zz = ZIGZAG;

  let acc = rd.acc;
  let nbits = rd.nbits;
  let todo = restartInterval;
  for (let my = 0; my < mcusY; my++) {
    for (let mx = 0; mx < mcusX; mx++) {
      if (restartInterval > 0) {
        if (todo === 0) {
          rd.acc = acc;
          rd.nbits = nbits;
          restart();
          preds.fill(0);
          acc = rd.acc;
          nbits = rd.nbits;
          todo = restartInterval;
        }
        todo--;
      }
      // The reader is at a marker with no real bits left: like libjpeg, leave the rest of the
      // restart interval zero instead of decoding the zero padding as coefficients.
      if (rd.marker !== 0 && nbits <= rd.padded) {
        rd.damage++;
        continue;
      }
      for (let b = 0; b < nb; b++) {
        const ci = blockComp[b]!;
        const coefs = coefArr[ci]!;
        const off = my * rowStride[ci]! + mx * colStride[ci]! + blockRel[b]!;
        // DC
        if (nbits < 16) {
          rd.acc = acc;
          rd.nbits = nbits;
          rd.fill();
          acc = rd.acc;
          nbits = rd.nbits;
        }
        const dct = dcArr[ci]!;
        let e = dct.fast[(acc >>> (nbits - FAST_BITS)) & (FAST_SIZE - 1)]!;
        let sym: number;
        if (e !== 0) {
          nbits -= e >> 8;
          sym = e & 0xff;
        } else {
          rd.acc = acc;
          rd.nbits = nbits;
          sym = rd.decode(dct);
          acc = rd.acc;
          nbits = rd.nbits;
        }
        if (sym !== 0) {
          if (sym > 15) {
            rd.nbits = nbits;
            rd.bad('DC difference category above 15');
          }
          if (nbits < sym) {
            rd.acc = acc;
            rd.nbits = nbits;
            rd.fill();
            acc = rd.acc;
            nbits = rd.nbits;
          }
          nbits -= sym;
          let d = (acc >>> nbits) & ((1 << sym) - 1);
          if (d < 1 << (sym - 1)) d += 1 - (1 << sym);
          preds[ci] += d;
        }
        coefs[off] = preds[ci]!;
        // AC
        const act = acArr[ci]!;
        const fastAc = act.fastAc;
        const fast = act.fast;
        for (let k = 1; k < 64; ) {
          if (nbits < 16) {
            rd.acc = acc;
            rd.nbits = nbits;
            rd.fill();
            acc = rd.acc;
            nbits = rd.nbits;
          }
          const look = (acc >>> (nbits - FAST_BITS)) & (FAST_SIZE - 1);
          const fa = fastAc[look]!;
          if (fa !== 0) {
            nbits -= fa & 15;
            k += (fa >> 4) & 15;
            if (k > 63) {
              rd.nbits = nbits;
              rd.bad('coefficient index beyond 63');
            }
            coefs[off + zz[k]!] = fa >> 16;
            k++;
            continue;
          }
          e = fast[look]!;
          if (e !== 0) {
            nbits -= e >> 8;
            sym = e & 0xff;
          } else {
            rd.acc = acc;
            rd.nbits = nbits;
            sym = rd.decode(act);
            acc = rd.acc;
            nbits = rd.nbits;
          }
          const sz = sym & 15;
          if (sz === 0) {
            if (sym !== 0xf0) break; // EOB
            k += 16;
            continue;
          }
          k += sym >> 4;
          if (k > 63) {
            rd.nbits = nbits;
            rd.bad('coefficient index beyond 63');
          }
          if (nbits < sz) {
            rd.acc = acc;
            rd.nbits = nbits;
            rd.fill();
            acc = rd.acc;
            nbits = rd.nbits;
          }
          nbits -= sz;
          let v = (acc >>> nbits) & ((1 << sz) - 1);
          if (v < 1 << (sz - 1)) v += 1 - (1 << sz);
          coefs[off + zz[k]!] = v;
          k++;
        }
      }
    }
  }
  rd.acc = acc;
  rd.nbits = nbits;
}

/** A correct encoder pads the last byte with 1-bits and never needs data past the marker;
 *  consuming the zero padding means the segment ended early. */
function checkPadding(rd: BitReader): void {
  if (rd.paddingConsumed() > 0) {
    if (isDamageMarker(rd.marker)) throw new JpegCoefficientError('corrupt', `scan data interrupted by marker 0xFF${rd.marker.toString(16).toUpperCase()}`);
    throw new JpegCoefficientError('truncated', 'entropy-coded segment ends early');
  }
}

/** Markers that mean damaged entropy data rather than its end: RSTn (a restart interval ran
 *  short) and 0xFF01-0xFFBF, which no encoder writes in a scan (a corrupted byte after 0xFF). */
function isDamageMarker(m: number): boolean {
  return (m > 0 && m < 0xc0) || (m >= 0xd0 && m <= 0xd7);
}

/**
 * Float 8×8 inverse DCT of one block: dequantizes `coefs[off..off+64)` (natural order) with
 * `quant` and writes 64 samples (row-major, without the +128 level shift) to `out`.
 * For tests and analyses that want pixels of one block.
 */
export function idctBlock(coefs: ArrayLike<number>, off: number, quant: ArrayLike<number>, out: Float64Array): void {
  for (let i = 0; i < 64; i++) IDCT_IN[i] = coefs[off + i]! * quant[i]!;
  idct8x8(IDCT_IN, out);
}

const IDCT_IN = new Float64Array(64);
