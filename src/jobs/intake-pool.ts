// A small pool of worker threads that run the upload check (src/forensics/structure.ts:
// 'structural' by default, 'full' decodes) and the upload's SHA-256, off the thread that
// serves HTTP and runs the database (with 'full', also the decode's multi-megabyte pixel
// buffers and their garbage collection).

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { IntakeError, type IntakeErrorCode } from '../forensics/errors.ts';
import type { IntakeLimits } from '../forensics/intake.ts';
import type { ImageFormat } from '../forensics/types.ts';
import type { UploadValidation } from '../forensics/structure.ts';
import type { DirectBlobTarget } from '../store/blobs.ts';

export interface IntakeRequest {
  id: number;
  bytes: Uint8Array;
  name?: string;
  contentType?: string;
  limits?: Partial<IntakeLimits>;
  mode: UploadValidation;
  /** Write the checked upload into this file-system blob store (see writeBlobFileSync). */
  blob?: BlobPlacement;
}

/** Where intake writes an upload that passed: the store, and whether to name the blob now. */
export interface BlobPlacement extends DirectBlobTarget {
  place: boolean;
}

export type IntakeReply =
  | { id: number; ok: true; sha256: string; width: number; height: number; format: ImageFormat; bytes?: Uint8Array; stored?: boolean; tmpPath?: string }
  | { id: number; ok: false; intake: boolean; code: string; message: string };

export interface IntakeSummary {
  sha256: string;
  width: number;
  height: number;
  format: ImageFormat;
  /**
   * The upload's bytes when intake moved them to its thread and back (the caller's own view
   * of them is detached by the move and must be replaced by this one). Not sent back when
   * intake wrote the blob (`stored` or `tmpPath`): the caller has no use for them then.
   */
  bytes?: Buffer;
  /** Intake wrote the blob and named it (BlobPlacement.place). */
  stored?: boolean;
  /** Intake wrote the blob to this temp file; FsBlobStore.adopt names it. */
  tmpPath?: string;
}

export class IntakePool {
  private workers: { w: Worker; load: number }[] = [];
  private pending = new Map<number, { resolve: (r: IntakeSummary) => void; reject: (e: Error) => void; worker: Worker }>();
  private nextId = 1;
  private closed = false;

  constructor(readonly size = availableParallelism(), readonly mode: UploadValidation = 'structural') {
    for (let i = 0; i < size; i++) this.spawn();
  }

  private spawn(): void {
    const entry = { w: new Worker(new URL('./intake-worker.mjs', import.meta.url)), load: 0 };
    entry.w.unref();
    entry.w.on('message', (m: IntakeReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      entry.load--;
      if (m.ok) {
        const bytes = m.bytes ? Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength) : undefined;
        p.resolve({ sha256: m.sha256, width: m.width, height: m.height, format: m.format, ...(bytes ? { bytes } : {}), ...(m.stored ? { stored: true } : {}), ...(m.tmpPath ? { tmpPath: m.tmpPath } : {}) });
      }
      else if (m.intake) p.reject(new IntakeError(m.code as IntakeErrorCode, m.message));
      else p.reject(new Error(m.message));
    });
    const onGone = (e: Error) => {
      const i = this.workers.indexOf(entry);
      if (i < 0) return;
      this.workers.splice(i, 1);
      for (const [id, p] of this.pending) {
        if (p.worker === entry.w) {
          this.pending.delete(id);
          p.reject(e);
        }
      }
      if (!this.closed) this.spawn();
    };
    entry.w.on('error', onGone);
    entry.w.on('exit', () => onGone(new Error('intake worker exited')));
    this.workers.push(entry);
  }

  /**
   * Checks an upload on the least busy thread. The bytes are transferred to the thread and back
   * instead of copied (no 300 KB copy, no extra garbage on the calling thread): the caller's
   * buffer is detached on return and the summary's `bytes` replaces it, unless intake wrote
   * the blob, in which case the bytes stay on the intake thread and are dropped there. A
   * buffer that does not own its whole memory (a slice of Node's pool) is copied once first,
   * unless the caller says that memory is `movable` (a request body read whole, of which the
   * bytes are a view and which nothing else needs): then all of it is moved.
   */
  intake(bytes: Uint8Array, opts: { name?: string; contentType?: string; limits?: Partial<IntakeLimits> } = {}, blob?: BlobPlacement, movable = false): Promise<IntakeSummary> {
    if (this.closed || this.workers.length === 0) return Promise.reject(new Error('intake pool closed'));
    // The least busy worker takes it.
    const entry = this.workers.reduce((a, b) => (b.load < a.load ? b : a));
    entry.load++;
    const id = this.nextId++;
    const owned = (movable || (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength)) && bytes.buffer instanceof ArrayBuffer;
    const body = owned ? bytes : new Uint8Array(bytes);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker: entry.w });
      entry.w.postMessage({ id, bytes: body, ...opts, mode: this.mode, blob } satisfies IntakeRequest, [body.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new Error('intake pool closed'));
    this.pending.clear();
    await Promise.all(this.workers.map((e) => e.w.terminate()));
    this.workers = [];
  }
}
