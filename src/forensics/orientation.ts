// EXIF orientation for detectors that work in the file's stored layout (JPEG blocks, for
// one): boxes and grids move from stored coordinates to what a viewer sees, which is what
// every region in a report is measured in.

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

/** A row-major grid in stored layout, re-laid out as a viewer sees it. */
export function orientGrid<T extends Float32Array | Uint8Array>(grid: T, width: number, height: number, orientation: number): { grid: T; width: number; height: number } {
  const swap = orientation >= 5 && orientation <= 8;
  const ow = swap ? height : width;
  const oh = swap ? width : height;
  const out = new (grid.constructor as new (n: number) => T)(grid.length);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      // the stored cell shown at (x, y)
      let sx: number;
      let sy: number;
      switch (orientation) {
        case 2: sx = width - 1 - x; sy = y; break;
        case 3: sx = width - 1 - x; sy = height - 1 - y; break;
        case 4: sx = x; sy = height - 1 - y; break;
        case 5: sx = y; sy = x; break;
        case 6: sx = y; sy = height - 1 - x; break;
        case 7: sx = width - 1 - y; sy = height - 1 - x; break;
        case 8: sx = width - 1 - y; sy = x; break;
        default: sx = x; sy = y;
      }
      out[y * ow + x] = grid[sy * width + sx]!;
    }
  }
  return { grid: out, width: ow, height: oh };
}
