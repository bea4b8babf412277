// `POST /v1/claims` reads its body whole and takes it apart with our parser (upload-parts.ts);
// the other upload routes read theirs through @fastify/multipart. Each request below is sent to
// the claims route and, with the claim part renamed `order`, to `POST /v1/orders` (multipart: an
// `order` part and `file` parts): both routes must answer a malformed body, a limit or a bad file
// the same way, on a server with intake threads and on one without, and a refused request must
// store nothing.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { pictureJpeg } from '../helpers/labels.ts';
import { photos, pixelBombPng, startTestServer, type TestServer } from './helpers.ts';

const MAX_FILE = 400_000;
const MAX_REQUEST = 700_000;
const MAX_FILES = 3;

let photo: Buffer;
let photo2: Buffer;
let png: Buffer;
let big: Buffer;
let truncated: Buffer;
const servers: { name: string; s: TestServer }[] = [];

before(async () => {
  photo = await pictureJpeg(320, 240, 41);
  photo2 = await pictureJpeg(320, 240, 42);
  png = await sharp(photo).png().toBuffer();
  // Noise does not compress: ~520 KB, over the per-file cap and under the per-request one.
  big = await sharp(randomBytes(900 * 700 * 3), { raw: { width: 900, height: 700, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
  assert.ok(big.length > MAX_FILE && big.length < MAX_REQUEST, `big photo ${big.length} bytes`);
  truncated = photos.truncated();
  for (const [name, intakeThreads] of [['intake thread', 1], ['serving thread', 0]] as const) {
    const s = await startTestServer({ intakeThreads, poolSize: 0, runJobs: false, maxFileBytes: MAX_FILE, maxRequestBytes: MAX_REQUEST, maxFiles: MAX_FILES });
    const o = await fetch(`${s.url}/v1/orders`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.keys.platform}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'o1', buyerId: 'b1', merchantId: 'm1', sku: 'S1', amount: 500, currency: 'CNY', deliveredAt: '2026-01-02T10:00:00Z' }),
    });
    assert.equal(o.status, 201);
    servers.push({ name, s });
  }
});
after(async () => {
  for (const { s } of servers) await s.close();
});

const BOUNDARY = 'claimlens-test-boundary';
const claimJson = JSON.stringify({ orderId: 'o1', type: 'refund_only', reason: 'cracked', amount: 20 });
type Part = { name: string; value: string | Buffer; filename?: string; type?: string };
function body(parts: Part[], opts: { end?: boolean } = {}): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disposition = `form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}`;
    chunks.push(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: ${disposition}\r\n${p.type ? `Content-Type: ${p.type}\r\n` : ''}\r\n`), Buffer.from(p.value), Buffer.from('\r\n'));
  }
  if (opts.end !== false) chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(chunks);
}
const claimPart: Part = { name: 'claim', value: claimJson };
const file = (bytes: Buffer, name = 'p.jpg', type = 'image/jpeg', field = 'evidence'): Part => ({ name: field, value: bytes, filename: name, type });

/**
 * Each case: the parts sent (or a body as it is), and the status (and error code) both servers
 * must answer. `same`: a multipart-level refusal, which `POST /v1/orders` (read through
 * @fastify/multipart) must answer the same way for the same parts with `order` for `claim` and
 * `file` for `evidence`.
 */
interface Case {
  name: string;
  parts?: () => Part[];
  cut?: number;
  end?: boolean;
  raw?: () => Buffer;
  contentType?: string;
  key?: 'merchant';
  status: number;
  code?: string;
  same?: boolean;
}
const cases: Case[] = [
  { name: 'one photo', parts: () => [claimPart, file(photo)], status: 202 },
  { name: 'two photos', parts: () => [claimPart, file(photo), file(photo2, 'q.jpg')], status: 202 },
  { name: 'the claim part sent as application/json', parts: () => [{ ...claimPart, type: 'application/json' }, file(photo)], status: 202 },
  { name: 'a PNG sent as application/octet-stream', parts: () => [claimPart, file(png, 'p.png', 'application/octet-stream')], status: 202 },
  { name: 'no claim part', parts: () => [file(photo)], status: 400, code: 'invalid_request', same: true },
  { name: 'a claim part that is not JSON', parts: () => [{ name: 'claim', value: '{"orderId":' }, file(photo)], status: 400, code: 'invalid_request', same: true },
  { name: 'a claim without its amount', parts: () => [{ name: 'claim', value: JSON.stringify({ orderId: 'o1', type: 'refund_only', reason: 'x' }) }, file(photo)], status: 400, code: 'invalid_request' },
  { name: 'a claim of an unknown type', parts: () => [{ name: 'claim', value: JSON.stringify({ orderId: 'o1', type: 'gift', reason: 'x', amount: 1 }) }, file(photo)], status: 400, code: 'invalid_request' },
  { name: 'no evidence file', parts: () => [claimPart], status: 400, code: 'invalid_request' },
  { name: 'a file part with another name', parts: () => [claimPart, file(photo, 'p.jpg', 'image/jpeg', 'photo')], status: 400, code: 'invalid_request', same: true },
  { name: 'a part named __proto__', parts: () => [claimPart, { name: '__proto__', value: 'x' }, file(photo)], status: 400, code: 'invalid_request', same: true },
  { name: 'a part named constructor', parts: () => [claimPart, { name: 'constructor', value: 'x' }, file(photo)], status: 400, code: 'invalid_request', same: true },
  { name: 'a text part over its size limit', parts: () => [claimPart, { name: 'note', value: 'x'.repeat(256 * 1024 + 10) }, file(photo)], status: 413, code: 'too_large', same: true },
  { name: 'a truncated JPEG', parts: () => [claimPart, file(truncated)], status: 422, code: 'truncated', same: true },
  { name: 'a good photo and a truncated one (nothing is stored)', parts: () => [claimPart, file(photo2, 'good.jpg'), file(truncated, 'bad.jpg')], status: 422, code: 'truncated', same: true },
  { name: 'PNG bytes sent as image/jpeg', parts: () => [claimPart, file(png, 'p.jpg', 'image/jpeg')], status: 415, code: 'format_mismatch', same: true },
  { name: 'a pixel bomb', parts: () => [claimPart, file(pixelBombPng(), 'bomb.png', 'image/png')], status: 413, code: 'pixel_limit', same: true },
  { name: 'a file over the per-file cap', parts: () => [claimPart, file(big)], status: 413, code: 'too_large', same: true },
  { name: 'more files than allowed', parts: () => [claimPart, ...Array.from({ length: MAX_FILES + 1 }, (_, i) => file(photo, `p${i}.jpg`))], status: 413, code: 'too_large', same: true },
  { name: 'files over the per-request cap', parts: () => [claimPart, file(photo), ...Array.from({ length: 2 }, () => file(Buffer.concat([photo2, Buffer.alloc(MAX_FILE - photo2.length - 10)]), 'padded.jpg'))], status: 413, code: 'too_large', same: true },
  { name: 'a body cut off before its closing boundary', parts: () => [claimPart, file(photo)], end: false, cut: 5000, status: 400, code: 'invalid_request', same: true },
  { name: 'a body with no boundary in it', raw: () => Buffer.from('just some bytes'), status: 400, code: 'invalid_request', same: true },
  { name: 'an empty body', raw: () => Buffer.alloc(0), status: 400, code: 'invalid_request', same: true },
  { name: 'multipart without a boundary', parts: () => [claimPart, file(photo)], contentType: 'multipart/form-data', status: 415, code: 'unsupported_media_type', same: true },
  { name: 'a JSON body', raw: () => Buffer.from(claimJson), contentType: 'application/json', status: 415, code: 'unsupported_media_type' },
  { name: 'a merchant key', parts: () => [claimPart, file(photo)], key: 'merchant', status: 403, code: 'forbidden' },
];

let orderSeq = 0;
/** The case's request as `POST /v1/orders` takes it: an `order` part for `claim`, `file` for `evidence`. */
function asOrder(parts: Part[]): Part[] {
  return parts.map((p) =>
    p.name === 'claim'
      ? { ...p, name: 'order', value: p.value === claimJson || p.type ? JSON.stringify({ id: `o-cmp-${++orderSeq}`, buyerId: 'b1', merchantId: 'm1', sku: 'S1', amount: 10, currency: 'CNY' }) : p.value }
      : p.name === 'evidence'
        ? { ...p, name: 'file' }
        : p,
  );
}
function bodyOf(c: Case, parts?: Part[]): Buffer {
  if (c.raw) return c.raw();
  const b = body(parts ?? c.parts!(), { end: c.end });
  return c.cut ? b.subarray(0, c.cut) : b;
}

/** Rows and blob files a server holds. */
async function holdings(s: TestServer) {
  const rows = (await s.rt.store.db.query('SELECT (SELECT count(*) FROM claims)::int c, (SELECT count(*) FROM media)::int m, (SELECT count(*) FROM blobs)::int b')).rows[0];
  const root = join(s.dataDir, 'blobs');
  let files = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else files++;
    }
  };
  walk(root);
  return { ...rows, files };
}

async function post(s: TestServer, path: string, c: Case, b: Buffer): Promise<{ status: number; code?: string; text: string; id?: string }> {
  const res = await fetch(`${s.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.keys[c.key ?? 'platform']}`, 'content-type': c.contentType ?? `multipart/form-data; boundary=${BOUNDARY}` },
    body: new Uint8Array(b),
  });
  const text = await res.text();
  const json = JSON.parse(text) as { id?: string; error?: { code: string } };
  return { status: res.status, code: json.error?.code, text, id: json.id };
}

describe('POST /v1/claims with intake threads and without, and against @fastify/multipart', () => {
  for (const c of cases) {
    test(`${c.name}: ${c.status}${c.code ? ` ${c.code}` : ''}${c.same ? ', as POST /v1/orders answers it' : ''}; a refusal stores nothing`, async () => {
      for (const { name, s } of servers) {
        const before = await holdings(s);
        const r = await post(s, '/v1/claims', c, bodyOf(c));
        assert.equal(r.status, c.status, `${name}: ${r.text}`);
        if (c.code) assert.equal(r.code, c.code, `${name}: ${r.text}`);
        const after = await holdings(s);
        if (c.status >= 400) assert.deepEqual(after, before, `${name}: a refused request stores nothing`);
        else {
          assert.equal(after.c, before.c + 1, `${name}: one claim`);
          const got = (await (await fetch(`${s.url}/v1/claims/${r.id}`, { headers: { authorization: `Bearer ${s.keys.platform}` } })).json()) as { state: string };
          assert.equal(got.state, 'submitted');
        }
        if (c.same) {
          const o = await post(s, '/v1/orders', c, bodyOf(c, c.parts ? asOrder(c.parts()) : undefined));
          assert.deepEqual({ status: o.status, code: o.code }, { status: r.status, code: r.code }, `${name}: POST /v1/orders answered ${o.text}`);
          assert.deepEqual(await holdings(s), before, `${name}: the refused order stored nothing`);
        }
      }
    });
  }
});
