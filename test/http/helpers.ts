// Shared helpers of the service tests: a runtime on a temporary data folder, API keys,
// multipart requests with real images.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { startRuntime, type Runtime, type RuntimeOptions } from '../../src/http/runtime.ts';
import { readShared } from '../helpers/shared.ts';

export const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

// New PGlite databases start from a cached empty cluster instead of running initdb each time
// (inherited by the CLI processes the tests spawn). See src/store/pglite.ts.
process.env.CLAIMLENS_PGLITE_TEMPLATE_DIR ??= join(tmpdir(), `claimlens-test-pglite-${process.getuid?.() ?? 'u'}`);

export function tempDir(prefix = 'claimlens-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface TestServer {
  rt: Runtime;
  url: string;
  dataDir: string;
  keys: { platform: string; merchant: string; merchant2: string; reviewer: string; otherTenant: string };
  close(opts?: { keepData?: boolean }): Promise<void>;
}

/** A service on PGlite in a temporary folder, listening on 127.0.0.1, with a few keys. */
export async function startTestServer(o: Partial<RuntimeOptions> = {}): Promise<TestServer> {
  const dataDir = o.dataDir ?? tempDir();
  const rt = await startRuntime({ dataDir, memory: !o.dataDir, poolSize: 1, intakeThreads: 1, runner: { pollMs: 50, leaseMs: 5000, backoffBaseMs: 100 }, ...o });
  const url = await rt.listen(0);
  const s = rt.service;
  const keys = {
    platform: (await s.createApiKey('t1', 'platform')).key,
    merchant: (await s.createApiKey('t1', 'merchant', 'm1')).key,
    merchant2: (await s.createApiKey('t1', 'merchant', 'm2')).key,
    reviewer: (await s.createApiKey('t1', 'reviewer')).key,
    otherTenant: (await s.createApiKey('t2', 'platform')).key,
  };
  return {
    rt,
    url,
    dataDir,
    keys,
    async close(c = {}) {
      await rt.close();
      if (!c.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface Req {
  status: number;
  body: any;
  headers: Headers;
}

export async function api(base: string, key: string | null, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Req> {
  const h: Record<string, string> = { ...headers };
  if (key) h.authorization = `Bearer ${key}`;
  let payload: BodyInit | undefined;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    h['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const res = await fetch(base + path, { method, headers: h, body: payload });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

export function form(json: Record<string, unknown>, files: { field: string; name: string; bytes: Uint8Array; type?: string }[]): FormData {
  const f = new FormData();
  for (const [k, v] of Object.entries(json)) f.append(k, typeof v === 'string' ? v : JSON.stringify(v));
  for (const x of files) f.append(x.field, new Blob([x.bytes as Uint8Array<ArrayBuffer>], { type: x.type ?? 'image/jpeg' }), x.name);
  return f;
}

/** Polls a claim until its state is one of `states`. */
export async function waitForState(base: string, key: string, id: string, states: string[], timeoutMs = 120_000): Promise<any> {
  const t0 = Date.now();
  let last: any;
  while (Date.now() - t0 < timeoutMs) {
    const r = await api(base, key, 'GET', `/v1/claims/${id}`);
    last = r.body;
    if (states.includes(r.body?.state)) return r.body;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`claim ${id} did not reach ${states.join('|')} (last: ${last?.state})`);
}

// Real photos from ../shared (read at run time, never copied into the repo).
export const photos = {
  listing: () => readShared('photos', 'listing', 'Anjou.jpg'),
  natural: () => readShared('photos', 'natural', 'Anjou', 'Anjou_001.jpg'),
  natural2: () => readShared('photos', 'natural', 'Anjou', 'Anjou_004.jpg'),
  aiLabelled: () => readShared('fixtures', 'labels', 'aigc_exif_usercomment_label1.jpg'),
  truncated: () => readShared('fixtures', 'broken', 'truncated_half.jpg'),
};

/** A valid PNG header that declares 40000×40000 pixels over a tiny body: a decompression bomb. */
export function pixelBombPng(): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(40000, 0);
  ihdr.writeUInt32BE(40000, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(1000))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function crc32(b: Buffer): number {
  let c = ~0;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}
