// Work on a decoded image that several parts of one analysis ask for (a detector and the
// worker that stores its result): computed once per image and kept while the image lives.

import type { DecodedImage } from './types.ts';

/** `compute`, run at most once per decoded image; a failed run is forgotten (asked again, run again). */
export function perImage<T>(compute: (image: DecodedImage) => Promise<T>): (image: DecodedImage) => Promise<T> {
  const results = new WeakMap<DecodedImage, Promise<T>>();
  return (image) => {
    let p = results.get(image);
    if (!p) {
      p = compute(image);
      results.set(image, p);
      p.catch(() => results.delete(image));
    }
    return p;
  };
}
