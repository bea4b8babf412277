// EXIF orientation for detectors that work in the file's stored layout (JPEG blocks, EXIF
// thumbnails): boxes and grids move from stored coordinates to what a viewer sees, which is
// what every region in a report is measured in.

export interface GrayImage {
  data: Float32Array | Uint8Array;
  width: number;
  height: number;
}

/** Dihedral variant that turns stored pixels into what a viewer sees, per EXIF orientation 1–8. */
export const ORIENTATION_VARIANT: Record<number, number> = { 1: 0, 2: 4, 3: 2, 4: 6, 5: 5, 6: 1, 7: 7, 8: 3 };


/**
 * A box [x, x + width) × [y, y + height) in stored pixels of a picture `storedWidth` ×
 * `storedHeight`, as a viewer sees it after EXIF `orientation` (1–8; anything else is 1).
 */
export function orientBox(
  box: { x: number; y: number; width: number; height: number },
  storedWidth: number,
  storedHeight: number,
  orientation: number,
): { x: number; y: number; width: number; height: number } {
  const W = storedWidth;
  const H = storedHeight;
  const x0 = box.x;
  const x1 = box.x + box.width;
  const y0 = box.y;
  const y1 = box.y + box.height;
  const r = (ax: number, bx: number, ay: number, by: number) => ({ x: ax, y: ay, width: bx - ax, height: by - ay });
  switch (orientation) {
    case 2:
      return r(W - x1, W - x0, y0, y1);
    case 3:
      return r(W - x1, W - x0, H - y1, H - y0);
    case 4:
      return r(x0, x1, H - y1, H - y0);
    case 5:
      return r(y0, y1, x0, x1);
    case 6:
      return r(H - y1, H - y0, x0, x1);
    case 7:
      return r(H - y1, H - y0, W - x1, W - x0);
    case 8:
      return r(y0, y1, W - x1, W - x0);
    default:
      return r(x0, x1, y0, y1);
  }
}

/** Applies one of the 8 dihedral transforms (0–3 rotations by 90°, 4–7 the same after a mirror). */
export function dihedral(img: GrayImage, variant: number): GrayImage {
  const { width: w, height: h, data } = img;
  const rot = variant & 3;
  const mirror = variant >= 4;
  const ow = rot % 2 === 1 ? h : w;
  const oh = rot % 2 === 1 ? w : h;
  const out = new Float32Array(ow * oh);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let sx: number;
      let sy: number;
      const dx = mirror ? ow - 1 - x : x;
      if (rot === 0) { sx = dx; sy = y; }
      else if (rot === 1) { sx = y; sy = h - 1 - dx; }
      else if (rot === 2) { sx = w - 1 - dx; sy = h - 1 - y; }
      else { sx = w - 1 - y; sy = dx; }
      out[y * ow + x] = data[sy * w + sx]!;
    }
  }
  return { data: out, width: ow, height: oh };
}
