// Content-addressed blob storage: a blob's name is the SHA-256 of its bytes, so storing
// the same photo twice costs nothing and a stored blob can be checked against its name.
// On the file system a blob is written to a temporary file and renamed into place, so a
// crash leaves either the whole blob or nothing under its name. With PostgreSQL the file is
// also flushed to disk (fsync) before the rename, and its folder after the rename (and a new
// folder's parents), all before the row that names it commits, so after a power loss a
// committed row never names a missing blob. With PGlite it is not:
// PGlite runs PostgreSQL on Emscripten's NODEFS, whose stream operations have no fsync, so
// the database itself never flushes (strace: 0 fsync/fdatasync calls for a create + 5
// inserts, 2026-12-04). Its data, claims included, survive a crash of the process (the
// writes are in the kernel's page cache) but not of the machine, and a flushed blob cannot
// make a claim more durable than its row. CLAIMLENS_BLOB_FSYNC=1|0 overrides. Intake threads
// write the file itself with O_DIRECT where they can (direct-write.ts).
// With S3 settings the blobs go to an S3-compatible object store instead.

import { createHash, randomBytes } from 'node:crypto';
import { close, closeSync, fsync, fsyncSync, mkdirSync, open as openFd, openSync, rename as renameFile, renameSync, rmSync, write, writeSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createFileDirectSync, DIRECT_MIN_BYTES } from './direct-write.ts';

const fsOpen = (path: string, flags: string, mode: number) =>
  new Promise<number>((res, rej) => openFd(path, flags, mode, (e, fd) => (e ? rej(e) : res(fd))));
const fsWrite = (fd: number, bytes: Uint8Array, off: number, len: number) =>
  new Promise<number>((res, rej) => write(fd, bytes, off, len, null, (e, n) => (e ? rej(e) : res(n))));
const fsFsync = (fd: number) => new Promise<void>((res, rej) => fsync(fd, (e) => (e ? rej(e) : res())));
const fsClose = (fd: number) => new Promise<void>((res, rej) => close(fd, (e) => (e ? rej(e) : res())));
const fsRename = (from: string, to: string) => new Promise<void>((res, rej) => renameFile(from, to, (e) => (e ? rej(e) : res())));

export interface BlobStore {
  /**
   * Stores bytes, returns their SHA-256 (hex). `knownSha256` is the digest the caller already
   * computed over these very bytes (upload intake hashes them in a worker thread); it saves
   * hashing them again on the caller's thread.
   */
  put(bytes: Uint8Array, knownSha256?: string): Promise<string>;
  get(sha256: string): Promise<Buffer>;
  has(sha256: string): Promise<boolean>;
  readonly kind: 'fs' | 's3';
  /**
   * Every blob stored, with its size and when it was last written (an upload of bytes already
   * stored writes them again, see put), in no particular order. For the orphan sweep.
   */
  list(): AsyncIterable<StoredBlob>;
  /**
   * Removes a blob unless it was written at or after `writtenBefore` (ms since the epoch): an
   * upload of the same bytes since it was listed keeps it. Resolves to the bytes freed (0 when
   * it was kept or was gone already).
   */
  removeIfWrittenBefore(sha256: string, writtenBefore: number): Promise<number>;
  /** Removes temp files (writes a crash cut off) last written before `writtenBefore`. */
  removeStaleTemp(writtenBefore: number): Promise<{ files: number; bytes: number }>;
  /**
   * Puts back what a sweep set aside and a crash kept it from removing or restoring (see
   * FsBlobStore.removeIfWrittenBefore); resolves to how many were put back.
   */
  restoreSetAside(): Promise<number>;
}

/** A stored blob as list() gives it. */
export interface StoredBlob {
  sha256: string;
  size: number;
  /** Last written, ms since the epoch. */
  writtenAt: number;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const SHA_RE = /^[0-9a-f]{64}$/;

export class BlobNotFoundError extends Error {
  constructor(sha: string) {
    super(`blob ${sha} not found`);
    this.name = 'BlobNotFoundError';
  }
}

export class FsBlobStore implements BlobStore {
  readonly kind = 'fs' as const;
  private readonly tmp: string;
  /**
   * Flush each blob to disk before its name appears (default true). The store turns it off
   * with PGlite, which never flushes its own writes (below), so a flushed blob would buy no
   * guarantee the claim row it belongs to has.
   */
  readonly fsync: boolean;
  /**
   * Intake threads write blob files with O_DIRECT (default true; see direct-write.ts): less
   * CPU per upload, but each write waits for the device, which on a slow disk without fsync
   * would cost more time than it saves.
   */
  readonly directWrites: boolean;
  constructor(readonly root: string, opts: { fsync?: boolean; directWrites?: boolean } = {}) {
    this.fsync = opts.fsync ?? true;
    this.directWrites = opts.directWrites ?? true;
    this.tmp = join(root, 'tmp');
    mkdirSync(this.tmp, { recursive: true });
  }

  /**
   * What another thread needs to write blobs straight into this store (intake threads do,
   * so that an upload's bytes are checked, hashed and written in one step off the serving
   * thread): see writeBlobFileSync.
   */
  get direct(): DirectBlobTarget {
    return { root: this.root, tmp: this.tmp, fsync: this.fsync, direct: this.directWrites };
  }

  /** Renames a temp file written by writeBlobFileSync (place: false) to the blob's name. */
  async adopt(tmpPath: string, sha: string): Promise<void> {
    const dest = this.path(sha);
    if (!tmpPath.startsWith(this.tmp + '/')) throw new Error(`not a temp file of this store: ${tmpPath}`);
    await this.ensureDir(dirname(dest));
    await fsRename(tmpPath, dest);
    if (this.fsync) await syncDir(dirname(dest));
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.dirs.has(dir)) return;
    const created = await mkdir(dir, { recursive: true });
    // A new fan-out folder is an entry in its parent: flushed, or a power loss could lose the
    // folder with the blobs renamed into it.
    if (created && this.fsync) for (const d of [this.root, dirname(dir)]) await syncDir(d);
    this.dirs.add(dir);
  }

  private path(sha: string): string {
    return blobFilePath(this.root, sha);
  }

  /** The file a blob is (or would be) stored in. */
  filePath(sha: string): string {
    return this.path(sha);
  }

  /** Folders known to exist (the 65 536 two-level fan-out folders; created once each). */
  private readonly dirs = new Set<string>();

  async put(bytes: Uint8Array, knownSha256?: string): Promise<string> {
    const sha = knownSha256 ?? sha256Hex(bytes);
    const dest = this.path(sha);
    // No existence check first: the upload path writes new photos almost always, and a
    // repeated one is written again and renamed over its identical self (rename is atomic,
    // a reader holding the old file keeps reading it). The callback API is used rather than
    // fs/promises: a FileHandle per write costs the serving thread more than the write.
    const tmp = join(this.tmp, `${sha}.${randomBytes(6).toString('hex')}`);
    const fd = await fsOpen(tmp, 'wx', 0o600);
    try {
      let off = 0;
      while (off < bytes.length) off += await fsWrite(fd, bytes, off, bytes.length - off);
      if (this.fsync) await fsFsync(fd);
    } catch (e) {
      await fsClose(fd).catch(() => {});
      await rm(tmp, { force: true });
      throw e;
    }
    await fsClose(fd);
    try {
      await this.ensureDir(dirname(dest));
      await fsRename(tmp, dest);
      // The rename is an entry in the folder: flushed too, so a committed row never names a
      // blob that the file system forgot after a power loss.
      if (this.fsync) await syncDir(dirname(dest));
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    return sha;
  }

  async get(sha: string): Promise<Buffer> {
    try {
      return await readFile(this.path(sha));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobNotFoundError(sha);
      throw e;
    }
  }

  has(sha: string): Promise<boolean> {
    return exists(this.path(sha));
  }

  async *list(): AsyncIterable<StoredBlob> {
    // root/ab/cd/abcd… (blobFilePath); anything else under the root (tmp/) is not a blob.
    for (const a of await readdirOrEmpty(this.root)) {
      if (!FANOUT_RE.test(a)) continue;
      for (const b of await readdirOrEmpty(join(this.root, a))) {
        if (!FANOUT_RE.test(b)) continue;
        for (const name of await readdirOrEmpty(join(this.root, a, b))) {
          if (!SHA_RE.test(name) || !name.startsWith(a + b)) continue;
          const st = await stat(join(this.root, a, b, name)).catch(() => undefined); // removed meanwhile
          if (st?.isFile()) yield { sha256: name, size: st.size, writtenAt: st.mtimeMs };
        }
      }
    }
  }

  async removeIfWrittenBefore(sha: string, writtenBefore: number): Promise<number> {
    // Moved aside first, then looked at: an upload that renames the same bytes into place at
    // that moment either lands after the move (and stays) or is the file moved, which is then
    // new and goes back. Nothing a write just made is ever unlinked.
    const dest = this.path(sha);
    const aside = join(this.tmp, `${SET_ASIDE}${sha}.${randomBytes(6).toString('hex')}`);
    try {
      await fsRename(dest, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw e;
    }
    const st = await stat(aside).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined; // another sweep's restoreSetAside put it back
      throw e;
    });
    if (!st) return 0;
    if (st.mtimeMs >= writtenBefore) {
      await fsRename(aside, dest); // the same bytes, whichever copy ends up under the name
      return 0;
    }
    await rm(aside, { force: true });
    return st.size;
  }

  async restoreSetAside(): Promise<number> {
    // A crash between the move aside and the removal (or the move back) leaves the file here;
    // it may be a new upload's, so it goes back under its name (the same bytes, if one is there).
    let restored = 0;
    for (const name of await readdirOrEmpty(this.tmp)) {
      const m = SET_ASIDE_RE.exec(name);
      if (!m) continue;
      const dest = this.path(m[1]!);
      await this.ensureDir(dirname(dest));
      await fsRename(join(this.tmp, name), dest);
      restored++;
    }
    return restored;
  }

  async removeStaleTemp(writtenBefore: number): Promise<{ files: number; bytes: number }> {
    let files = 0;
    let bytes = 0;
    for (const name of await readdirOrEmpty(this.tmp)) {
      if (SET_ASIDE_RE.test(name)) continue; // restoreSetAside's, never removed here
      const path = join(this.tmp, name);
      const st = await stat(path).catch(() => undefined);
      if (!st?.isFile() || st.mtimeMs >= writtenBefore) continue;
      await rm(path, { force: true });
      files++;
      bytes += st.size;
    }
    return { files, bytes };
  }
}

const FANOUT_RE = /^[0-9a-f]{2}$/;
/** A blob the sweep moved into tmp/ to look at once more: `sweep-<sha>.<random>`. */
const SET_ASIDE = 'sweep-';
const SET_ASIDE_RE = new RegExp(`^${SET_ASIDE}([0-9a-f]{64})\\.[0-9a-f]+$`);

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** A blob's file under a store's root: two levels of fan-out folders by the hash's first bytes. */
function blobFilePath(root: string, sha: string): string {
  if (!SHA_RE.test(sha)) throw new Error(`not a sha256: ${sha}`);
  return join(root, sha.slice(0, 2), sha.slice(2, 4), sha);
}

/** Where a thread other than the store's writes blob files (FsBlobStore.direct). */
export interface DirectBlobTarget {
  root: string;
  tmp: string;
  fsync: boolean;
  /** Write the file with O_DIRECT when the file system allows it (see direct-write.ts). */
  direct: boolean;
}

/**
 * Writes a blob file synchronously (for a worker thread): to a temp file in the store's temp
 * folder (flushed when the store flushes), then — with `place` — renamed to its name. Without
 * `place` the temp file's path is returned for FsBlobStore.adopt (a request with several files
 * names its blobs only once every file passed its check). The same crash guarantee as put().
 */
export function writeBlobFileSync(target: DirectBlobTarget, bytes: Uint8Array, sha: string, place: boolean): string | undefined {
  const dest = blobFilePath(target.root, sha);
  const tmp = join(target.tmp, `${sha}.${randomBytes(6).toString('hex')}`);
  const fd = (target.direct && bytes.length >= DIRECT_MIN_BYTES ? createFileDirectSync(tmp, bytes) : undefined) ?? createFileSync(tmp, bytes);
  try {
    if (target.fsync) fsyncSync(fd);
    closeSync(fd);
    if (!place) return tmp;
    const dir = dirname(dest);
    const created = mkdirSync(dir, { recursive: true });
    if (created && target.fsync) for (const d of [target.root, dirname(dir)]) syncDirSync(d);
    renameSync(tmp, dest);
    if (target.fsync) syncDirSync(dir);
    return undefined;
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Creates `path` (it must not exist) holding `bytes`, written through the page cache; returns its open descriptor. */
function createFileSync(path: string, bytes: Uint8Array): number {
  const fd = openSync(path, 'wx', 0o600);
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    return fd;
  } catch (e) {
    closeSync(fd);
    rmSync(path, { force: true });
    throw e;
  }
}

/** Flushes a folder's entries (a rename or a new subfolder in it) to disk. */
async function syncDir(dir: string): Promise<void> {
  const fd = await fsOpen(dir, 'r', 0);
  try {
    await fsFsync(fd);
  } finally {
    await fsClose(fd);
  }
}

function syncDirSync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

export interface S3Settings {
  endpoint?: string;
  bucket: string;
  region: string;
  prefix?: string;
  forcePathStyle?: boolean;
}

/** Reads S3 settings from the environment; undefined when S3_BUCKET is not set. */
export function s3SettingsFromEnv(env: NodeJS.ProcessEnv = process.env): S3Settings | undefined {
  if (!env.S3_BUCKET) return undefined;
  return {
    endpoint: env.S3_ENDPOINT || undefined,
    bucket: env.S3_BUCKET,
    region: env.S3_REGION || 'us-east-1',
    prefix: env.S3_PREFIX || 'blobs/',
    // MinIO and most self-hosted S3-compatible servers need path-style addressing.
    forcePathStyle: env.S3_FORCE_PATH_STYLE ? env.S3_FORCE_PATH_STYLE !== 'false' : Boolean(env.S3_ENDPOINT),
  };
}

/**
 * Blobs in an S3-compatible object store. A PUT of an object is atomic (readers see the
 * whole object or none), so no temp-and-rename is needed. Credentials come from the AWS
 * SDK's usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles…).
 */
export class S3BlobStore implements BlobStore {
  readonly kind = 's3' as const;
  private clientP: Promise<any>;
  constructor(readonly settings: S3Settings) {
    this.clientP = import('@aws-sdk/client-s3').then(
      (m) => new m.S3Client({ region: settings.region, endpoint: settings.endpoint, forcePathStyle: settings.forcePathStyle }),
    );
  }
  private key(sha: string): string {
    if (!SHA_RE.test(sha)) throw new Error(`not a sha256: ${sha}`);
    return `${this.settings.prefix ?? ''}${sha}`;
  }
  async put(bytes: Uint8Array, knownSha256?: string): Promise<string> {
    const sha = knownSha256 ?? sha256Hex(bytes);
    // Put even when the object exists: the write renews its LastModified, which is what keeps
    // the orphan sweep (removeIfWrittenBefore) off bytes that a new upload is about to name.
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    const client = await this.clientP;
    await client.send(
      new PutObjectCommand({
        Bucket: this.settings.bucket,
        Key: this.key(sha),
        Body: bytes,
        // The store checks the body against this digest and refuses a damaged upload.
        ChecksumSHA256: Buffer.from(sha, 'hex').toString('base64'),
      }),
    );
    return sha;
  }
  async get(sha: string): Promise<Buffer> {
    const { GetObjectCommand } = await import('@aws-sdk/client-s3');
    const client = await this.clientP;
    try {
      const r = await client.send(new GetObjectCommand({ Bucket: this.settings.bucket, Key: this.key(sha) }));
      return Buffer.from(await r.Body.transformToByteArray());
    } catch (e) {
      if ((e as { name?: string }).name === 'NoSuchKey') throw new BlobNotFoundError(sha);
      throw e;
    }
  }
  async has(sha: string): Promise<boolean> {
    return (await this.head(sha)) !== undefined;
  }

  /** The object's HEAD (size, last write), or undefined when there is none. */
  private async head(sha: string): Promise<{ LastModified?: Date; ContentLength?: number } | undefined> {
    const { HeadObjectCommand } = await import('@aws-sdk/client-s3');
    const client = await this.clientP;
    try {
      return await client.send(new HeadObjectCommand({ Bucket: this.settings.bucket, Key: this.key(sha) }));
    } catch (e) {
      const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (err.name === 'NotFound' || err.$metadata?.httpStatusCode === 404) return undefined;
      throw e;
    }
  }

  async *list(): AsyncIterable<StoredBlob> {
    const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
    const client = await this.clientP;
    const prefix = this.settings.prefix ?? '';
    let token: string | undefined;
    do {
      const r = await client.send(new ListObjectsV2Command({ Bucket: this.settings.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of r.Contents ?? []) {
        const name = String(o.Key ?? '').slice(prefix.length);
        if (SHA_RE.test(name)) yield { sha256: name, size: Number(o.Size ?? 0), writtenAt: new Date(o.LastModified).getTime() };
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
  }

  async removeIfWrittenBefore(sha: string, writtenBefore: number): Promise<number> {
    // S3 has no rename to move the object aside first, so the check and the delete are two
    // requests: an upload of the same bytes between the two (milliseconds) would lose its
    // object. docs/service.md (Storage) says what that costs.
    const head = await this.head(sha);
    if (!head?.LastModified || head.LastModified.getTime() >= writtenBefore) return 0;
    const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
    const client = await this.clientP;
    await client.send(new DeleteObjectCommand({ Bucket: this.settings.bucket, Key: this.key(sha) }));
    return Number(head.ContentLength ?? 0);
  }

  /** An object is written whole or not at all (PutObject): there are no temp objects. */
  async removeStaleTemp(): Promise<{ files: number; bytes: number }> {
    return { files: 0, bytes: 0 };
  }

  /** Nothing is set aside in S3 (removeIfWrittenBefore). */
  async restoreSetAside(): Promise<number> {
    return 0;
  }
}
