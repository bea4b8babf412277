// How CLI commands reach the data folder. PGlite holds its data folder alone (one process),
// so while `claimlens serve` runs, `keys create` and `audit verify` go through the running
// server: it writes DATA/server.json (its pid and loopback URL) and DATA/admin.token
// (mode 0600, a random token) and answers /admin/* only from 127.0.0.1 with that token.
// When no server runs, the command takes DATA/lock (created exclusively; a lock whose
// process is gone is stale and taken over) and opens the folder itself. On PostgreSQL
// (DATABASE_URL) many processes share the database, so commands open it directly.

import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

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
    super(`the data folder ${dir} is in use by process ${pid}`);
    this.name = 'DataDirBusyError';
  }
}

/** Takes the data folder's lock; returns its release function. */
export function lockDataDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'lock');
  for (let i = 0; i < 2; i++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) throw new DataDirBusyError(dir, pid);
      rmSync(path, { force: true }); // stale: its process is gone
    }
  }
  throw new Error(`cannot lock ${dir}`);
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

/** The running server of this data folder, if there is one. */
export function findServer(dir: string): (ServerInfo & { token: string }) | undefined {
  try {
    const info = JSON.parse(readFileSync(join(dir, 'server.json'), 'utf8')) as ServerInfo;
    if (!isAlive(info.pid)) return undefined;
    const token = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
    return { ...info, token };
  } catch {
    return undefined;
  }
}

/** Calls an admin route of the running server. */
export async function adminCall(server: { url: string; token: string }, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(server.url + path, {
    method,
    headers: { 'x-admin-token': server.token, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = (await res.json()) as any;
  if (!res.ok) throw new Error(json?.error?.message ?? `HTTP ${res.status}`);
  return json;
}
