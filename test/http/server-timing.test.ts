// Server-Timing on claim submissions (AppOptions.serverTiming): where a submission's time
// went on the server, as the benchmark reads it. Off by default (upload-limits.test.ts checks
// that a default server sends none).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseServerTiming } from '../../bench/load-process.ts';
import { pictureJpeg } from '../helpers/labels.ts';
import { api, form, startTestServer, type TestServer } from './helpers.ts';

let s: TestServer;

before(async () => {
  s = await startTestServer({ serverTiming: true, poolSize: 0, runJobs: false });
  const o = await api(s.url, s.keys.platform, 'POST', '/v1/orders', { id: 'o-st', buyerId: 'b1', merchantId: 'm1', sku: 'S1', amount: 50, currency: 'CNY', deliveredAt: '2026-01-02T10:00:00Z' });
  assert.equal(o.status, 201, JSON.stringify(o.body));
});
after(async () => {
  await s?.close();
});

const claim = { claim: { orderId: 'o-st', type: 'refund_only', reason: 'broken', amount: 20 } };

test('a submission reports its read, intake and commit times, within its latency', async () => {
  for (const [i, headers] of ([{}, { 'idempotency-key': 'st-1' }] as Record<string, string>[]).entries()) {
    const photo = await pictureJpeg(640, 480, 40 + i);
    const t0 = performance.now();
    const r = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form(claim, [{ field: 'evidence', name: 'p.jpg', bytes: photo }]), headers);
    const latency = performance.now() - t0;
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const t = parseServerTiming(r.headers.get('server-timing') ?? undefined);
    assert.ok(t, `a Server-Timing header (${Object.keys(headers).length ? 'with' : 'without'} Idempotency-Key)`);
    assert.deepEqual(Object.keys(t).sort(), ['commit', 'intake', 'read']);
    for (const [name, ms] of Object.entries(t)) assert.ok(Number.isFinite(ms) && ms >= 0, `${name} ${ms}`);
    assert.ok(t.commit! > 0, 'the database write took some time');
    assert.ok(t.read! + t.intake! + t.commit! <= latency, `${JSON.stringify(t)} within ${latency.toFixed(1)} ms`);
  }
});

test('a refused upload carries no timing', async () => {
  const r = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form(claim, [{ field: 'evidence', name: 'p.jpg', bytes: Buffer.from('not a photo at all') }]));
  assert.ok(r.status >= 400 && r.status < 500, String(r.status));
  assert.equal(r.headers.get('server-timing'), null);
});

test('parseServerTiming reads name;dur entries and skips the rest', () => {
  assert.deepEqual(parseServerTiming('read;dur=0.31, intake;desc="x";dur=7.5,commit;dur=12, cache;desc=hit'), { read: 0.31, intake: 7.5, commit: 12 });
  assert.deepEqual(parseServerTiming(['a;dur=1', 'b;dur=2']), { a: 1, b: 2 });
  assert.equal(parseServerTiming(undefined), undefined);
  assert.equal(parseServerTiming('cache;desc=hit'), undefined);
});
