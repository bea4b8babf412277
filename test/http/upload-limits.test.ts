// Size caps on uploads: per file (busboy's fileSize limit) and per request (all files of one
// request together), checked while the chunks arrive. A refused request stores nothing, and
// the server goes on serving.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pictureJpeg } from '../helpers/labels.ts';
import { api, form, startTestServer, type TestServer } from './helpers.ts';

let s: TestServer;
let big: Buffer; // over the per-file cap
let mid: Buffer; // under it; two of them are over the per-request cap
let small: Buffer;

let fileCap: number;
let requestCap: number;

before(async () => {
  big = await pictureJpeg(800, 600, 31, 98);
  mid = await pictureJpeg(400, 300, 32, 98);
  small = await pictureJpeg(160, 120, 33);
  fileCap = mid.length + 100;
  requestCap = mid.length + small.length + 100;
  assert.ok(big.length > fileCap, `the big photo is ${big.length} bytes`);
  s = await startTestServer({ maxFileBytes: fileCap, maxRequestBytes: requestCap, poolSize: 0 });
  const o = await api(s.url, s.keys.platform, 'POST', '/v1/orders', { id: 'o-lim', buyerId: 'b1', merchantId: 'm1', sku: 'S1', amount: 50, currency: 'CNY', deliveredAt: '2026-01-02T10:00:00Z' });
  assert.equal(o.status, 201, JSON.stringify(o.body));
});
after(async () => {
  await s?.close();
});

const claim = { claim: { orderId: 'o-lim', type: 'refund_only', reason: 'broken', amount: 50 } };
const counts = async () => (await s.rt.store.db.query('SELECT (SELECT count(*) FROM claims)::int c, (SELECT count(*) FROM media)::int m')).rows[0];

test('a file over the per-file cap, or files over the per-request cap, are refused whole with 413', async () => {
  const before = await counts();
  const tooBig = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form(claim, [{ field: 'evidence', name: 'big.jpg', bytes: big }]));
  assert.equal(tooBig.status, 413, JSON.stringify(tooBig.body));
  assert.equal(tooBig.body.error.code, 'too_large');
  const tooMany = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form(claim, [
    { field: 'evidence', name: 'a.jpg', bytes: mid },
    { field: 'evidence', name: 'b.jpg', bytes: small },
    { field: 'evidence', name: 'c.jpg', bytes: mid },
  ]));
  assert.equal(tooMany.status, 413, JSON.stringify(tooMany.body));
  assert.equal(tooMany.body.error.code, 'too_large');
  assert.match(tooMany.body.error.message, new RegExp(`at most ${requestCap} bytes`));
  assert.deepEqual(await counts(), before, 'nothing stored');
  assert.deepEqual(readdirSync(join(s.dataDir, 'blobs', 'tmp')), [], 'no temp blob left behind');
  // The server goes on serving, and files under both caps are taken.
  const ok = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form(claim, [
    { field: 'evidence', name: 'a.jpg', bytes: mid },
    { field: 'evidence', name: 'b.jpg', bytes: small },
  ]));
  assert.equal(ok.status, 202, JSON.stringify(ok.body));
  assert.equal(ok.headers.get('server-timing'), null, 'no Server-Timing unless asked for');
  const c = await api(s.url, s.keys.platform, 'GET', `/v1/claims/${ok.body.id}`);
  assert.equal(c.body.evidence.length, 2);
});
