// How CLI commands reach the data folder. PGlite holds its data folder alone (one process),
// so while `claimlens serve` runs, `keys create` and `audit verify` go through the running
// server: it writes DATA/server.json (its pid and loopback URL) and DATA/admin.token
// (mode 0600, a random token) and answers /admin/* only from 127.0.0.1 with that token.
// When no server runs, the command takes DATA/lock (created exclusively; a lock whose
// process is gone is stale and taken over) and opens the folder itself. On PostgreSQL
// (DATABASE_URL) many processes share the database, so commands open it directly.

import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ServiceError } from '../claims/errors.ts';

export interface ServerInfo {
  pid: number;
  url: string;
  startedAt: string;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class DataDirBusyError extends Error {
  constructor(dir: string, pid: number) {
    // (a pid can be reused after a reboot: then it names some other program, and the lock is stale)
    super(`the data folder ${dir} is in use by process ${pid} (if that is no claimlens process, remove ${join(dir, 'lock')})`);
    this.name = 'DataDirBusyError';
  }
}

/**
 * A data folder that cannot be used as one: a file or a dangling symbolic link where the folder
 * should be, no permission to create or write it, or (for the commands that only read an
 * existing folder) no claimlens data in it. A configuration error: src/cli/main.ts prints the
 * message alone, exit code 2.
 */
export class DataDirUnusableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataDirUnusableError';
  }
}

/**
 * Whether the folder holds a claimlens PGlite database: what `serve` and `keys create` leave in
 * a new folder is pgdata/ with PGlite's PG_VERSION (written by initdb, before anything else of
 * ours). A folder without it is a new or mistyped one.
 */
export function holdsData(dir: string): boolean {
  return existsSync(join(dir, 'pgdata', 'PG_VERSION'));
}

/** Throws DataDirUnusableError when `dir` exists but is no folder (a file, a dangling link). */
function checkIsFolder(dir: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      // stat follows links: a link whose target is gone is ENOENT too, unlike a missing path
      let link = false;
      try {
        link = lstatSync(dir).isSymbolicLink();
      } catch {}
      if (link) throw new DataDirUnusableError(`the data folder ${dir} is a symbolic link to something that does not exist`);
      return;
    }
    if (code === 'ENOTDIR') throw new DataDirUnusableError(`the data folder ${dir} cannot exist: a file is in its path`);
    throw new DataDirUnusableError(`cannot use the data folder ${dir}: ${describe(e)}`);
  }
  if (!st.isDirectory()) throw new DataDirUnusableError(`the data folder ${dir} is not a folder (a file is there)`);
}

/**
 * mkdir -p, one level at a time. Node 20's mkdirSync(recursive) never returns where a folder
 * exists but refuses new entries with ENOENT (/proc/x: measured, it spins), so the levels are
 * made here, each failure thrown as it comes.
 */
function makeFolder(dir: string): void {
  try {
    mkdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && statSync(dir).isDirectory()) return;
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir || existsSync(parent)) throw e;
    makeFolder(parent);
    mkdirSync(dir);
  }
}

/** A file-system error in a few words: "permission denied (EACCES)". */
function describe(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const words: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'read-only file system',
    ENOSPC: 'no space left on the device',
    ENOTDIR: 'a file is in its path',
    EEXIST: 'a file is in the way',
    ELOOP: 'too many levels of symbolic links',
    ENOENT: 'no such file or folder',
  };
  return err.code && words[err.code] ? `${words[err.code]} (${err.code})` : err.message;
}

/**
 * Takes the data folder's lock; returns its release function. `create` (serve, keys create)
 * makes the folder when it is missing; without it (audit, blobs, keys list/revoke) a folder that
 * holds no claimlens data is refused before anything is written: a typo in --data must not
 * pass an integrity check on a fresh, empty database. `stalePid` is a pid known not to be a
 * claimlens process of this folder (findServer): a lock naming it is taken over.
 */
export function lockDataDir(dir: string, opts: { create?: boolean; stalePid?: number } = {}): () => void {
  checkIsFolder(dir);
  if (opts.create === false && !holdsData(dir)) throw new DataDirUnusableError(`no claimlens data in ${dir} (no pgdata/ there; \`claimlens serve\` or \`keys create\` starts a new data folder)`);
  try {
    makeFolder(dir);
  } catch (e) {
    throw new DataDirUnusableError(`cannot create the data folder ${dir}: ${describe(e)}`);
  }
  const path = join(dir, 'lock');
  for (let i = 0; i < 2; i++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new DataDirUnusableError(`cannot lock the data folder ${dir} (${path}): ${describe(e)}`);
      let pid: number;
      try {
        pid = Number(readFileSync(path, 'utf8').trim());
      } catch (e2) {
        throw new DataDirUnusableError(`cannot read the lock of the data folder ${dir} (${path}): ${describe(e2)}`);
      }
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pid !== opts.stalePid && isAlive(pid)) throw new DataDirBusyError(dir, pid);
      rmSync(path, { force: true }); // stale: its process is gone (or is not ours, see findServer)
    }
  }
  throw new DataDirUnusableError(`cannot lock the data folder ${dir}`);
}

export function newAdminToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Writes the admin token and server.json for a server that listens on `url`. */
export function publishServer(dir: string, url: string, token: string): { unpublish: () => void } {
  writeFileSync(join(dir, 'admin.token'), token, { mode: 0o600 });
  const info: ServerInfo = { pid: process.pid, url, startedAt: new Date().toISOString() };
  writeFileSync(join(dir, 'server.json'), JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
  return {
    unpublish: () => {
      rmSync(join(dir, 'server.json'), { force: true });
      rmSync(join(dir, 'admin.token'), { force: true });
    },
  };
}

export type RunningServer = ServerInfo & { token: string };

/**
 * The running server of this data folder, if there is one. A server.json whose pid is alive
 * is not enough: after a reboot (or a long uptime) its pid may belong to some other process.
 * A claimlens server writes server.json only once it listens and removes it before it stops
 * listening, so the record is asked at its admin URL: a refused connection or an answer that
 * is not our server's (another server now on that port, a wrong token) makes the record
 * stale. It is then removed, and its pid returned as `stalePid` for lockDataDir, since a lock
 * naming the same pid is stale for the same reason. An answer that takes long (a busy server)
 * counts as alive: a live server's folder must never be opened twice.
 */
export async function findServer(dir: string): Promise<{ server?: RunningServer; stalePid?: number }> {
  let info: ServerInfo;
  let token: string;
  try {
    info = JSON.parse(readFileSync(join(dir, 'server.json'), 'utf8')) as ServerInfo;
    if (!isAlive(info.pid)) return {};
    token = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
  } catch {
    return {};
  }
  if (await answers(info.url, token)) return { server: { ...info, token } };
  // Removed only if it is still the record we asked (a new server may have just written its own).
  try {
    const now = JSON.parse(readFileSync(join(dir, 'server.json'), 'utf8')) as ServerInfo;
    if (now.pid === info.pid && now.url === info.url && now.startedAt === info.startedAt) {
      rmSync(join(dir, 'server.json'), { force: true });
      rmSync(join(dir, 'admin.token'), { force: true });
    }
  } catch {}
  return { stalePid: info.pid };
}

/**
 * Whether our server answers at `url` with this admin token. Only a refused connection or a
 * refusal of the token (401; 404 from anything that is not a claimlens server's loopback admin)
 * says no: a busy server (no answer within 5 s) or one in trouble (5xx) is still ours.
 */
async function answers(url: string, token: string): Promise<boolean> {
  try {
    const res = await fetch(url + '/admin/audit/head', { headers: { 'x-admin-token': token }, signal: AbortSignal.timeout(5000) });
    await res.body?.cancel();
    return res.ok || res.status >= 500;
  } catch (e) {
    return (e as Error).name === 'TimeoutError';
  }
}

/**
 * Calls an admin route of the running server. The server's refusals come back as the
 * ServiceError it threw (status, code, message); a server that cannot be reached as an
 * AdminUnreachableError. Both are printed without a stack by src/cli/main.ts.
 */
export async function adminCall(server: { url: string; token: string }, method: string, path: string, body?: unknown): Promise<any> {
  let res: Response;
  let json: any;
  try {
    res = await fetch(server.url + path, {
      method,
      headers: { 'x-admin-token': server.token, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    json = await res.json().catch(() => undefined);
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new AdminUnreachableError(`the running server at ${server.url} did not answer (${cause?.code ?? cause?.message ?? (e as Error).message})`);
  }
  if (!res.ok) throw new ServiceError(res.status, json?.error?.code ?? 'error', json?.error?.message ?? `HTTP ${res.status}`, json?.error?.details);
  return json;
}

export class AdminUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdminUnreachableError';
  }
}
