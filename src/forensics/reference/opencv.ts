// OpenCV's WebAssembly build, loaded once and lazily: initialising it takes about half a
// second (measured ~450 ms on the development machine), so only the reference check pays
// for it, and only the first time it actually needs geometry.

import { createRequire } from 'node:module';

// The package's typings are large and partial; the few calls we make are checked by tests.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type CV = any;

let cvModule: CV | undefined;
let loading: Promise<void> | undefined;
let loadMs = 0;

export async function loadOpenCv(): Promise<CV> {
  if (cvModule) return cvModule;
  loading ??= new Promise<void>((resolve, reject) => {
    const t0 = performance.now();
    try {
      const require = createRequire(import.meta.url);
      const mod = require('@techstark/opencv-js') as CV;
      const done = (): void => {
        // Emscripten makes the module a thenable; once it is ready that only gets in the
        // way (an async function returning it would try to adopt it forever), so drop it.
        delete mod.then;
        cvModule = mod;
        loadMs = performance.now() - t0;
        resolve();
      };
      if (typeof mod.Mat === 'function') done();
      else mod.onRuntimeInitialized = done;
    } catch (e) {
      reject(e);
    }
  });
  await loading;
  return cvModule;
}

/** How long the first load took, in ms (0 before). */
export function openCvLoadMs(): number {
  return loadMs;
}
