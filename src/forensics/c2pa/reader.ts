// Reads and validates a C2PA manifest store with the Content Authenticity project's own
// WebAssembly build of c2pa-rs (@contentauth/c2pa-wasm, the engine inside
// @contentauth/c2pa-web).
//
// Why this library (evaluated on ../shared/fixtures/c2pa, Node 20, see docs/c2pa.md):
// - @contentauth/c2pa-web itself cannot start in Node: its factory spawns a browser Web
//   Worker ("Worker is not defined"). The WASM module it wraps runs fine in Node once
//   `FileReaderSync` (a worker-only browser API it uses to read Blob slices) exists; we
//   provide a tiny one for our own Blob subclass below. Every fixture then validates
//   exactly as the fixtures' manifest states: signature, hard-binding hash and claim
//   errors found, ingredient errors kept separate from the active manifest, and trust
//   reported separately from cryptographic validity (`signingCredential.untrusted`).
// - @trustnxt/c2pa-ts (pure TypeScript) reads the same files but flags both genuine Adobe
//   AI samples as invalid ("c2pa.opened action is missing ingredients") and reports no
//   trust status; a reference-implementation validator is the safer ground for a
//   signal that may call a buyer's photo tampered.
// - c2pa-node is excluded: it downloads a native binary at install time.
//
// Safety: remote manifest and OCSP fetching are switched off (an attacker-chosen URL in
// a claim photo must never make the server fetch anything); calls are serialised; a
// WebAssembly trap (a Rust panic on hostile input) discards the instance and the next call
// starts a fresh one, so one bad file cannot poison later analyses.

import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type * as C2paWasm from '@contentauth/c2pa-wasm';

/** Settings for c2pa-rs (its own JSON settings format, snake_case keys). */
const READER_SETTINGS = JSON.stringify({
  verify: {
    verify_after_reading: true,
    verify_trust: true,
    remote_manifest_fetch: false,
    ocsp_fetch: false,
  },
});

export type C2paMime = 'image/jpeg' | 'image/png' | 'image/webp' | 'image/heic' | 'image/avif';

export interface C2paReadResult {
  /** The library's manifest-store JSON (`Reader::json()`), parsed. */
  store: unknown;
  /** The library's crJSON (assertion contents incl. hash exclusions), when it was asked for. */
  crStore?: unknown;
}

/** The library refused the store (no JUMBF, unreadable boxes, unsupported format …). */
export class C2paReadError extends Error {
  constructor(
    message: string,
    /** True when the WebAssembly module trapped (panicked) rather than returning an error. */
    readonly trapped: boolean,
  ) {
    super(message);
    this.name = 'C2paReadError';
  }
}

type WasmModule = typeof C2paWasm;

const BYTES = Symbol('claimlens.c2pa.bytes');

/**
 * A Blob whose bytes stay reachable synchronously. The WASM reader pulls ranges through
 * `blob.slice()` + `new FileReaderSync().readAsArrayBuffer()`; Node has no
 * FileReaderSync, so the polyfill below serves these Blobs straight from memory
 * (subarray slices, no copies of the whole file).
 */
class ByteBlob extends Blob {
  readonly [BYTES]: Uint8Array;
  constructor(bytes: Uint8Array) {
    super([]);
    this[BYTES] = bytes;
  }
  override get size(): number {
    return this[BYTES].length;
  }
  override slice(start?: number, end?: number): ByteBlob {
    const n = this[BYTES].length;
    const s = clampIndex(start ?? 0, n);
    const e = clampIndex(end ?? n, n);
    return new ByteBlob(this[BYTES].subarray(s, Math.max(s, e)));
  }
}

function clampIndex(i: number, n: number): number {
  if (i < 0) return Math.max(0, n + i);
  return Math.min(i, n);
}

class FileReaderSyncPolyfill {
  readAsArrayBuffer(blob: Blob): ArrayBuffer {
    const bytes = (blob as Partial<ByteBlob>)[BYTES];
    if (!bytes) throw new TypeError('claimlens FileReaderSync polyfill only reads its own in-memory Blobs');
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }
}

function installPolyfill(): void {
  const g = globalThis as { FileReaderSync?: unknown };
  // Node has no FileReaderSync; never replace a real one (e.g. inside a browser worker).
  g.FileReaderSync ??= FileReaderSyncPolyfill;
}

const require = createRequire(import.meta.url);
let wasmBytes: Promise<Buffer> | undefined;
let instance: Promise<WasmModule> | undefined;
let generation = 0;
let queue: Promise<unknown> = Promise.resolve();

async function loadInstance(): Promise<WasmModule> {
  installPolyfill();
  wasmBytes ??= readFile(require.resolve('@contentauth/c2pa-wasm/c2pa.wasm'));
  const bytes = await wasmBytes;
  // The first generation uses the package import; after a trap a fresh copy of the glue
  // module (query-string URL = new ES module instance) gets a fresh WebAssembly instance.
  const mod: WasmModule =
    generation === 0
      ? await import('@contentauth/c2pa-wasm')
      : await import(`${pathToFileURL(require.resolve('@contentauth/c2pa-wasm')).href}?instance=${generation}`);
  await mod.default({ module_or_path: bytes });
  return mod;
}

function getInstance(): Promise<WasmModule> {
  instance ??= loadInstance().catch((e) => {
    instance = undefined;
    throw e;
  });
  return instance;
}

/**
 * Discards the current WebAssembly instance; the next read starts a new one. Used after a
 * trap; exported so tests can exercise the fresh-instance path.
 */
export function discardC2paInstance(): void {
  instance = undefined;
  generation += 1;
}

/**
 * Parses and validates the manifest store embedded in `bytes`. Calls are serialised (one
 * at a time) because the WASM instance is shared. Throws C2paReadError when the library
 * cannot read a store at all.
 */
export function readC2pa(bytes: Uint8Array, mime: C2paMime, opts: { withCrJson?: (store: unknown) => boolean } = {}): Promise<C2paReadResult> {
  const run = queue.then(() => readNow(bytes, mime, opts));
  queue = run.catch(() => undefined);
  return run;
}

async function readNow(bytes: Uint8Array, mime: C2paMime, opts: { withCrJson?: (store: unknown) => boolean }): Promise<C2paReadResult> {
  const mod = await getInstance();
  let reader: C2paWasm.WasmReader | undefined;
  try {
    reader = await mod.WasmReader.fromBlob(mime, new ByteBlob(bytes), READER_SETTINGS);
    const store: unknown = JSON.parse(reader.json());
    const result: C2paReadResult = { store };
    if (opts.withCrJson?.(store)) {
      try {
        result.crStore = JSON.parse(reader.crJson());
      } catch {
        // crJSON is supplementary (hash exclusions); the main result stands without it.
      }
    }
    return result;
  } catch (e) {
    const trapped = e instanceof WebAssembly.RuntimeError;
    if (trapped) discardC2paInstance();
    throw new C2paReadError(errorText(e), trapped);
  } finally {
    try {
      reader?.free();
    } catch {
      // Freeing after a trap may fail; the instance is dropped anyway.
    }
  }
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'string') return e;
  try {
    return JSON.stringify(e);
  } catch {
    return String(e);
  }
}
