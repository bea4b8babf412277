// Writing a new blob file with O_DIRECT: the bytes go from this thread's memory to the disk
// without first being copied into the kernel's page cache.
//
// Why: on this project's machines (a virtual machine whose host reclaims free guest memory),
// every fresh page-cache page a write fills is first faulted in by the host. A 300 KB upload
// written through the page cache cost 0.42–0.56 ms of kernel CPU on the intake thread; with
// O_DIRECT it cost 0.12–0.14 ms (a Node loop of 3000 files, three alternating runs, session 9),
// and on 2 cores that CPU is taken from the serving and database threads. Blobs are written
// once and read later by the analysis (once), so keeping them in the page cache buys little.
//
// O_DIRECT needs the memory, the file offset and the length aligned to the device's block.
// JavaScript cannot ask where an ArrayBuffer lives, but a WebAssembly memory is mapped by
// whole pages, so its start is page-aligned: the bytes are copied (a memcpy of ~20 µs for
// 300 KB) into such a staging memory and written a chunk at a time, the last chunk padded
// with zeros to a whole block, and the file is then truncated to its real length.
//
// A file system that refuses O_DIRECT (tmpfs on older kernels, some network or FUSE file
// systems) answers EINVAL; the thread then writes through the page cache from then on.

import { closeSync, constants, ftruncateSync, openSync, rmSync, writeSync } from 'node:fs';

/** Alignment of offsets and lengths: the common physical block size (devices' logical blocks are 512 or 4096). */
const BLOCK = 4096;
/** Staging size: 1 MiB, 16 WebAssembly pages; bigger files are written in several chunks. */
const CHUNK = 1 << 20;
/**
 * Below this a file is written through the page cache: the copy of a few pages is cheap, and an
 * O_DIRECT write waits for the device.
 */
export const DIRECT_MIN_BYTES = 64 * 1024;

let staging: Uint8Array | undefined;
/** The file system refused O_DIRECT once: this thread no longer tries it. */
let refused = false;

/** Whether this thread still writes with O_DIRECT (false after a refusal). */
export function directWritesAvailable(): boolean {
  return !refused;
}

/**
 * Creates `path` (it must not exist) holding `bytes`, written with O_DIRECT. Returns the open
 * file descriptor (for the caller's fsync and close), or undefined when the file system
 * refused O_DIRECT; nothing is left at `path` then, and the caller writes it another way.
 * Any other error is thrown, with nothing left at `path`.
 */
export function createFileDirectSync(path: string, bytes: Uint8Array): number | undefined {
  if (refused) return undefined;
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o600);
  } catch (e) {
    if (isEinval(e)) {
      refused = true;
      return undefined;
    }
    throw e;
  }
  try {
    staging ??= new Uint8Array(new WebAssembly.Memory({ initial: CHUNK / 65536, maximum: CHUNK / 65536 }).buffer);
    for (let at = 0; at < bytes.length; at += CHUNK) {
      const n = Math.min(CHUNK, bytes.length - at);
      staging.set(bytes.subarray(at, at + n), 0);
      const padded = Math.ceil(n / BLOCK) * BLOCK;
      // Zeros, not the previous upload's bytes, fill the padding: truncation drops them from
      // the file, but they would reach the disk block.
      if (padded > n) staging.fill(0, n, padded);
      let off = 0;
      while (off < padded) off += writeSync(fd, staging, off, padded - off, at + off);
    }
    if (bytes.length % BLOCK !== 0) ftruncateSync(fd, bytes.length);
    return fd;
  } catch (e) {
    closeSync(fd);
    rmSync(path, { force: true });
    if (isEinval(e)) {
      refused = true;
      return undefined;
    }
    throw e;
  }
}

function isEinval(e: unknown): boolean {
  return (e as NodeJS.ErrnoException).code === 'EINVAL';
}
