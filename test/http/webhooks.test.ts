// Webhooks to a real HTTP receiver on 127.0.0.1: every state change is delivered, signed
// (HMAC-SHA256 over `timestamp.body`), retried with backoff after failures, and logged.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, deliverWebhook, signWebhook, verifyWebhook } from '../../src/claims/webhooks.ts';
import { WebhookTargetError, guardedLookup, isPublicAddress, webhookUrlProblem } from '../../src/claims/webhook-targets.ts';
import { api, form, photos, startTestServer, waitForState, type TestServer } from './helpers.ts';

let s: TestServer;
let receiver: Server;
let receiverUrl = '';
const received: { at: number; body: string; ts: string; sig: string; status: number }[] = [];
let failuresLeft = 2;

before(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      // The first deliveries fail, to exercise retries.
      const status = failuresLeft-- > 0 ? 500 : 200;
      received.push({ at: Date.now(), body: Buffer.concat(chunks).toString('utf8'), ts: String(req.headers[TIMESTAMP_HEADER]), sig: String(req.headers[SIGNATURE_HEADER]), status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  // the receiver listens on loopback, which the default policy refuses (see webhook-targets.ts)
  s = await startTestServer({ runner: { pollMs: 30, leaseMs: 5000, backoffBaseMs: 150 }, service: { webhookAllowPrivate: true } });
});
after(async () => {
  await s?.close();
  receiver?.close();
});

test('signature helpers agree and refuse tampering or stale timestamps', () => {
  const ts = String(Math.floor(Date.now() / 1000));
  const sig = signWebhook('secret-123', ts, '{"a":1}');
  assert.match(sig, /^v1=[0-9a-f]{64}$/);
  assert.equal(verifyWebhook('secret-123', ts, '{"a":1}', sig), true);
  assert.equal(verifyWebhook('secret-123', ts, '{"a":2}', sig), false);
  assert.equal(verifyWebhook('other-secret', ts, '{"a":1}', sig), false);
  assert.equal(verifyWebhook('secret-123', String(Number(ts) - 3600), '{"a":1}', signWebhook('secret-123', String(Number(ts) - 3600), '{"a":1}')), false);
});

test('every state change is delivered, signed, retried with backoff and logged', async () => {
  const wh = await api(s.url, s.keys.platform, 'POST', '/v1/webhooks', { url: receiverUrl });
  assert.equal(wh.status, 201, JSON.stringify(wh.body));
  const secret: string = wh.body.secret;
  assert.equal((await api(s.url, s.keys.merchant, 'POST', '/v1/webhooks', { url: receiverUrl })).status, 403);
  assert.equal((await api(s.url, s.keys.platform, 'POST', '/v1/webhooks', { url: 'ftp://x.example/a' })).status, 400);

  await api(s.url, s.keys.platform, 'POST', '/v1/orders', { id: 'o-wh', buyerId: 'b', merchantId: 'm1', sku: 'S', amount: 1000, currency: 'CNY' });
  const sub = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form({ claim: { orderId: 'o-wh', type: 'refund_only', reason: 'r', amount: 900 } }, [{ field: 'evidence', name: 'e.jpg', bytes: photos.natural() }]));
  assert.equal(sub.status, 202);
  await waitForState(s.url, s.keys.platform, sub.body.id, ['awaiting_merchant']);

  // submitted, analysing, awaiting_merchant: three events, each delivered once successfully.
  const t0 = Date.now();
  let ok: typeof received = [];
  while (Date.now() - t0 < 20_000) {
    ok = received.filter((r) => r.status === 200);
    if (ok.length >= 3) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const events = ok.map((r) => JSON.parse(r.body));
  assert.deepEqual(events.map((e) => e.data.to).sort(), ['analysing', 'awaiting_merchant', 'submitted']);
  for (const e of events) assert.equal(e.data.claimId, sub.body.id);
  for (const r of received) assert.equal(verifyWebhook(secret, r.ts, r.body, r.sig), true, 'every delivery is signed with the endpoint secret');

  // The two failures were retried: the same event arrived again later.
  const failed = received.filter((r) => r.status === 500);
  assert.equal(failed.length, 2);
  const firstFailedId = JSON.parse(failed[0]!.body).id;
  const retried = received.find((r) => r.status === 200 && JSON.parse(r.body).id === firstFailedId);
  assert.ok(retried, 'the failed event was delivered on a retry');
  assert.ok(retried!.at - failed[0]!.at >= 100, 'after a backoff');

  const log = await api(s.url, s.keys.platform, 'GET', `/v1/webhooks/${wh.body.id}/deliveries`);
  assert.equal(log.status, 200);
  const forFirst = log.body.items.filter((d: any) => d.eventId === firstFailedId);
  assert.equal(forFirst[0].ok, false);
  assert.equal(forFirst[0].statusCode, 500);
  assert.equal(forFirst.at(-1).ok, true);
  assert.ok(forFirst.at(-1).attempt > 1);
  assert.equal((await api(s.url, s.keys.otherTenant, 'GET', `/v1/webhooks/${wh.body.id}/deliveries`)).status, 404);

  // Stopping the endpoint: only its own platform may; afterwards nothing more is sent to it.
  assert.equal((await api(s.url, s.keys.otherTenant, 'DELETE', `/v1/webhooks/${wh.body.id}`)).status, 404);
  assert.equal((await api(s.url, s.keys.merchant, 'DELETE', `/v1/webhooks/${wh.body.id}`)).status, 403);
  const del = await api(s.url, s.keys.platform, 'DELETE', `/v1/webhooks/${wh.body.id}`);
  assert.equal(del.status, 200, JSON.stringify(del.body));
  assert.deepEqual(del.body, { id: wh.body.id, active: false, alreadyInactive: false });
  assert.equal((await api(s.url, s.keys.platform, 'DELETE', `/v1/webhooks/${wh.body.id}`)).body.alreadyInactive, true);
  assert.equal((await api(s.url, s.keys.platform, 'GET', '/v1/webhooks')).body.items.find((w: any) => w.id === wh.body.id).active, false);
  const before = received.length;
  const sub2 = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form({ claim: { orderId: 'o-wh', type: 'refund_only', reason: 'r2', amount: 100 } }, [{ field: 'evidence', name: 'e2.jpg', bytes: photos.natural() }]));
  assert.equal(sub2.status, 202);
  await waitForState(s.url, s.keys.platform, sub2.body.id, ['awaiting_merchant']);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(received.length, before, 'no event of the later claim reached the stopped endpoint');
});

test('webhook targets: only public addresses unless allowed, checked at registration and at the connection', async () => {
  for (const [a, pub] of [
    ['127.0.0.1', false], ['10.1.2.3', false], ['169.254.169.254', false], ['172.20.0.1', false], ['192.168.1.1', false],
    ['100.64.1.1', false], ['0.0.0.0', false], ['224.0.0.1', false], ['8.8.8.8', true], ['1.1.1.1', true],
    ['::1', false], ['fe80::1', false], ['fd00::1', false], ['::ffff:127.0.0.1', false], ['::ffff:8.8.8.8', true],
    ['2606:4700:4700::1111', true], ['not an ip', false],
  ] as const) {
    assert.equal(isPublicAddress(a), pub, a);
  }
  assert.equal(webhookUrlProblem('http://127.0.0.1:8080/x', false)?.code, 'webhook_target_not_allowed');
  assert.equal(webhookUrlProblem('http://[::1]/x', false)?.code, 'webhook_target_not_allowed');
  assert.equal(webhookUrlProblem('http://169.254.169.254/latest/meta-data', false)?.code, 'webhook_target_not_allowed');
  assert.equal(webhookUrlProblem('http://localhost:9/x', false)?.code, 'webhook_target_not_allowed');
  assert.equal(webhookUrlProblem('http://localhost.:9/x', false)?.code, 'webhook_target_not_allowed');
  assert.equal(webhookUrlProblem('http://a.localhost./x', false)?.code, 'webhook_target_not_allowed');
  assert.equal(webhookUrlProblem('http://user:pw@hooks.example.com/x', false)?.code, 'invalid_request');
  assert.equal(webhookUrlProblem('ftp://hooks.example.com/x', true)?.code, 'invalid_request');
  assert.equal(webhookUrlProblem('https://hooks.example.com/x', false), undefined);
  assert.equal(webhookUrlProblem('http://127.0.0.1:8080/x', true), undefined);

  // at the connection: a name is resolved by the request itself and refused when private
  const refused = await new Promise<Error | null>((resolve) => guardedLookup('localhost', {}, (err) => resolve(err)));
  assert.ok(refused instanceof WebhookTargetError, String(refused));
  const r = await deliverWebhook(receiverUrl, 'secret-1234567890', { id: 'evt-x' }, 2000);
  assert.equal(r.ok, false);
  assert.match(r.error ?? '', /non-public/);
  const allowed = await deliverWebhook(receiverUrl, 'secret-1234567890', { id: 'evt-y' }, 2000, { allowPrivate: true });
  assert.equal(allowed.ok, true, allowed.error);
  assert.equal(received.filter((x) => x.body.includes('evt-y')).length, 1, 'the allowed delivery reached the receiver');
  assert.equal(received.filter((x) => x.body.includes('evt-x')).length, 0, 'the refused one never connected');

  // over HTTP, a server with the default policy refuses such a registration with a typed error
  const strict = await startTestServer();
  try {
    const bad = await api(strict.url, strict.keys.platform, 'POST', '/v1/webhooks', { url: 'http://169.254.169.254/latest/meta-data' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'webhook_target_not_allowed');
    assert.equal((await api(strict.url, strict.keys.platform, 'GET', '/v1/webhooks')).body.items.length, 0, 'nothing registered');
  } finally {
    await strict.close();
  }
});
