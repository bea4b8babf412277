// Where a HEIF/AVIF file's image data must lie, checked against the bytes received, before
// decoding. libheif's decoder does not refuse a cut file: the tiles whose data is missing come
// out as solid green, with the full size, and such a half picture was analysed and scored
// "clean" (QA, session 15). A cut upload must be refused as truncated like a cut JPEG.
//
// Two checks on the ISO base media file format (ISO/IEC 14496-12):
// - every top-level box must end within the file (a cut file's last box, usually `mdat`,
//   declares more bytes than are left);
// - every item extent the `iloc` box gives as a file offset (construction method 0) must lie
//   within the file (this still holds when `mdat` declares "to the end of the file").

/** Why the file's data does not fit in its bytes, or undefined when it does (or is not ISOBMFF). */
export function heifDataBeyondEnd(bytes: Uint8Array): string | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length;
  let at = 0;
  let meta: { start: number; end: number } | undefined;
  while (at + 8 <= end) {
    const box = readBoxHeader(view, at, end);
    if (!box) return `a box header at byte ${at} is cut off`;
    if (box.end > end) return `the '${box.type}' box at byte ${at} declares ${box.end - at} bytes, but only ${end - at} are left`;
    if (box.type === 'meta') meta = { start: box.bodyStart, end: box.end };
    at = box.end;
  }
  if (!meta) return undefined;
  // meta is a full box: version and flags, then its child boxes
  let child = meta.start + 4;
  while (child + 8 <= meta.end) {
    const box = readBoxHeader(view, child, meta.end);
    if (!box || box.end > meta.end) return 'the metadata box is damaged';
    if (box.type === 'iloc') return ilocBeyondEnd(view, box.bodyStart, box.end, end);
    child = box.end;
  }
  return undefined;
}

interface BoxHeader {
  type: string;
  bodyStart: number;
  end: number;
}

function readBoxHeader(view: DataView, at: number, limit: number): BoxHeader | undefined {
  if (at + 8 > limit) return undefined;
  const size32 = view.getUint32(at);
  const type = String.fromCharCode(view.getUint8(at + 4), view.getUint8(at + 5), view.getUint8(at + 6), view.getUint8(at + 7));
  if (size32 === 1) {
    if (at + 16 > limit) return undefined;
    const size = Number(view.getBigUint64(at + 8));
    return size < 16 ? undefined : { type, bodyStart: at + 16, end: at + size };
  }
  if (size32 === 0) return { type, bodyStart: at + 8, end: limit }; // to the end of the file
  return size32 < 8 ? undefined : { type, bodyStart: at + 8, end: at + size32 };
}

/** The item location box: each item's extents (ISO/IEC 14496-12, 8.11.3). */
function ilocBeyondEnd(view: DataView, start: number, boxEnd: number, fileEnd: number): string | undefined {
  let at = start;
  const need = (n: number) => {
    if (at + n > boxEnd) throw new RangeError('iloc');
  };
  const uint = (size: number): number => {
    need(size);
    const v = size === 0 ? 0 : size === 1 ? view.getUint8(at) : size === 2 ? view.getUint16(at) : size === 4 ? view.getUint32(at) : size === 8 ? Number(view.getBigUint64(at)) : NaN;
    at += size;
    return v;
  };
  try {
    const version = uint(1);
    at += 3; // flags
    if (version > 2) return undefined; // a later version: not ours to judge
    need(2);
    const b0 = view.getUint8(at);
    const b1 = view.getUint8(at + 1);
    at += 2;
    const offsetSize = b0 >> 4;
    const lengthSize = b0 & 15;
    const baseOffsetSize = b1 >> 4;
    const indexSize = version >= 1 ? b1 & 15 : 0;
    if (![offsetSize, lengthSize, baseOffsetSize, indexSize].every((s) => s === 0 || s === 4 || s === 8)) return 'the item location box is damaged';
    const itemCount = uint(version < 2 ? 2 : 4);
    for (let i = 0; i < itemCount; i++) {
      const itemId = uint(version < 2 ? 2 : 4);
      const constructionMethod = version >= 1 ? uint(2) & 15 : 0;
      uint(2); // data reference index
      const baseOffset = uint(baseOffsetSize);
      const extents = uint(2);
      for (let e = 0; e < extents; e++) {
        if (indexSize > 0) uint(indexSize);
        const offset = uint(offsetSize);
        const length = uint(lengthSize);
        // Method 0: a file offset. (1: inside the idat box, checked as part of meta; 2: another item.)
        if (constructionMethod === 0 && baseOffset + offset + length > fileEnd) {
          return `item ${itemId}'s data ends at byte ${baseOffset + offset + length}, but the file has ${fileEnd} bytes`;
        }
      }
    }
  } catch (e) {
    if (e instanceof RangeError) return 'the item location box is cut off';
    throw e;
  }
  return undefined;
}
