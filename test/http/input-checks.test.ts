// Client input that is well-formed JSON or multipart but cannot be stored as given: a NUL
// character anywhere, a free-form object nested thousands deep, dates PostgreSQL or people do
// not use, a tampered cursor, a text part sent twice, an endless file name. Each used to end in
// a 500 (or, for the deep object, a server that answered nothing more); each is now a typed
// 400 that changes nothing, and the server goes on serving (src/claims/input-checks.ts).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyAudit } from '../../src/claims/audit.ts';
import { MAX_JSON_DEPTH } from '../../src/claims/input-checks.ts';
import { pictureJpeg } from '../helpers/labels.ts';
import { api, form, startTestServer, type TestServer } from './helpers.ts';

let s: TestServer;
let jpeg: Buffer;

before(async () => {
  jpeg = await pictureJpeg(320, 240, 41);
  s = await startTestServer({ poolSize: 0 });
  const o = await api(s.url, s.keys.platform, 'POST', '/v1/orders', { id: 'o-in', buyerId: 'b1', merchantId: 'm1', sku: 'S1', amount: 50, currency: 'CNY' });
  assert.equal(o.status, 201, JSON.stringify(o.body));
});
after(async () => {
  await s?.close();
});

const counts = async () => (await s.rt.store.db.query('SELECT (SELECT count(*) FROM claims)::int c, (SELECT count(*) FROM orders)::int o, (SELECT count(*) FROM media)::int m, (SELECT count(*) FROM audit_log)::int a')).rows[0];
const claimForm = (claim: Record<string, unknown>, name = 'p.jpg') => form({ claim: { orderId: 'o-in', type: 'refund_only', reason: 'broken', amount: 10, ...claim } }, [{ field: 'evidence', name, bytes: jpeg }]);
const nested = (depth: number) => JSON.parse('{"a":'.repeat(depth - 1) + '1' + '}'.repeat(depth - 1));

/** A multipart body written by hand, for what FormData cannot send (a part twice, odd names). */
function rawMultipart(parts: { headers: string; body: string | Buffer }[]): { body: Buffer; type: string } {
  const b = 'claimlens-test-boundary';
  const chunks: Buffer[] = [];
  for (const p of parts) chunks.push(Buffer.from(`--${b}\r\n${p.headers}\r\n\r\n`, 'utf8'), Buffer.from(p.body), Buffer.from('\r\n'));
  chunks.push(Buffer.from(`--${b}--\r\n`));
  return { body: Buffer.concat(chunks), type: `multipart/form-data; boundary=${b}` };
}
async function postRaw(path: string, m: { body: Buffer; type: string }) {
  const res = await fetch(s.url + path, { method: 'POST', headers: { authorization: `Bearer ${s.keys.platform}`, 'content-type': m.type }, body: new Uint8Array(m.body) });
  return { status: res.status, body: (await res.json()) as any };
}

test('an object nested thousands deep is refused with 400, and the server goes on serving', async () => {
  const before = await counts();
  const deep = await api(s.url, s.keys.platform, 'POST', '/v1/orders', { id: 'o-deep', buyerId: 'b1', merchantId: 'm1', sku: 'S1', amount: 5, currency: 'CNY', shipping: nested(2000) });
  assert.equal(deep.status, 400, JSON.stringify(deep.body));
  assert.equal(deep.body.error.code, 'invalid_request');
  assert.match(deep.body.error.message, new RegExp(`nested more than ${MAX_JSON_DEPTH} levels`));
  // the multipart form of the same route
  const fd = new FormData();
  fd.append('order', JSON.stringify({ id: 'o-deep', buyerId: 'b1', merchantId: 'm1', sku: 'S1', amount: 5, currency: 'CNY', shipping: nested(2000) }));
  const deepForm = await api(s.url, s.keys.platform, 'POST', '/v1/orders', fd);
  assert.equal(deepForm.status, 400, JSON.stringify(deepForm.body));
  assert.deepEqual(await counts(), before, 'nothing stored');
  assert.equal((await api(s.url, null, 'GET', '/healthz')).status, 200);
  // a shipping record of ordinary depth is stored and read back whole
  const shipping = { carrier: '顺丰', tracking: 'SF1234', parcel: { weightKg: 1.2, photos: [{ at: '2026-12-01T10:00:00Z' }] }, deep: nested(MAX_JSON_DEPTH - 3) };
  const ok = await api(s.url, s.keys.platform, 'POST', '/v1/orders', { id: 'o-ship', buyerId: 'b1', merchantId: 'm1', sku: 'S1', amount: 5, currency: 'CNY', shipping });
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  assert.deepEqual((await api(s.url, s.keys.platform, 'GET', '/v1/orders/o-ship')).body.shipping, shipping);
});

test('a NUL character in a path, a query, a JSON body or a multipart part is refused with 400', async () => {
  const before = await counts();
  const refusals = [
    await api(s.url, s.keys.platform, 'POST', '/v1/orders', { id: 'o\u0000x', buyerId: 'b1', merchantId: 'm1', sku: 'S1', amount: 5, currency: 'CNY' }),
    await api(s.url, s.keys.platform, 'POST', '/v1/orders', { id: 'o-nul', buyerId: 'b1', merchantId: 'm1', sku: 'S1', amount: 5, currency: 'CNY', shipping: { 'k\u0000': 1 } }),
    await api(s.url, s.keys.platform, 'POST', '/v1/claims', claimForm({ reason: 'cracked\u0000' })),
    await api(s.url, s.keys.platform, 'POST', '/v1/claims', claimForm({}, 'a\u0000b.jpg')),
    await api(s.url, s.keys.platform, 'GET', '/v1/claims/%00'),
    await api(s.url, s.keys.platform, 'GET', '/v1/claims?buyerId=%00'),
    await api(s.url, s.keys.platform, 'GET', '/v1/orders/%00'),
    await postRaw('/v1/claims', rawMultipart([
      { headers: 'Content-Disposition: form-data; name="claim"', body: JSON.stringify({ orderId: 'o-in', type: 'refund_only', reason: 'broken', amount: 10 }) },
      { headers: 'Content-Disposition: form-data; name="evidence"; filename="p.jpg"\r\nContent-Type: image/jpeg\u0000', body: jpeg },
    ])),
  ];
  for (const r of refusals) {
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error.code, 'invalid_request');
    assert.match(r.body.error.message, /NUL character/);
  }
  assert.deepEqual(await counts(), before, 'nothing stored');
});

test("claims refused for their data do not fail other clients' claims written in the same group", async () => {
  const before = await counts();
  const results = await Promise.all(
    Array.from({ length: 8 }, (_, i) => api(s.url, i % 4 === 3 ? s.keys.platform : s.keys.platform, 'POST', '/v1/claims', claimForm(i % 4 === 3 ? { reason: `bad\u0000${i}` } : { reason: `ok ${i}` }))),
  );
  assert.deepEqual(results.map((r) => r.status), [202, 202, 202, 400, 202, 202, 202, 400]);
  assert.equal((await counts()).c, before.c + 6);
});

test('dates must be ISO 8601 in years people use; others are refused, not guessed', async () => {
  const before = await counts();
  for (const deliveredAt of ['1', '0', 'March 7 2020', '200000-01-01', '-000001-01-01T00:00:00Z', '+275760-09-13T00:00:00Z', '2026-02-30', '2026-12-05T25:00:00Z']) {
    const r = await api(s.url, s.keys.platform, 'POST', '/v1/orders', { id: `o-d-${deliveredAt}`, buyerId: 'b1', merchantId: 'm1', sku: 'S1', amount: 5, currency: 'CNY', deliveredAt });
    assert.equal(r.status, 400, `${deliveredAt}: ${JSON.stringify(r.body)}`);
    const fd = new FormData();
    fd.append('order', JSON.stringify({ id: `o-d-${deliveredAt}`, buyerId: 'b1', merchantId: 'm1', sku: 'S1', amount: 5, currency: 'CNY', deliveredAt }));
    const m = await api(s.url, s.keys.platform, 'POST', '/v1/orders', fd);
    assert.equal(m.status, 400, `multipart ${deliveredAt}: ${JSON.stringify(m.body)}`);
  }
  assert.deepEqual(await counts(), before, 'nothing stored');
  const ok = await api(s.url, s.keys.platform, 'POST', '/v1/orders', { id: 'o-date', buyerId: 'b1', merchantId: 'm1', sku: 'S1', amount: 5, currency: 'CNY', deliveredAt: '2026-12-05T08:00:00+08:00' });
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  assert.equal(ok.body.deliveredAt, '2026-12-05T00:00:00.000Z');
});

test('a tampered cursor is refused with 400', async () => {
  for (const t of ['1', '2020', '+275760-09-13T00:00:00Z', 'March 7 2020']) {
    const cursor = Buffer.from(JSON.stringify([t, 'x'])).toString('base64url');
    const r = await api(s.url, s.keys.platform, 'GET', `/v1/claims?cursor=${cursor}`);
    assert.equal(r.status, 400, `${t}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.message, 'bad cursor');
  }
  // a real cursor still pages
  const page = await api(s.url, s.keys.platform, 'GET', '/v1/claims?limit=1');
  assert.equal(page.status, 200);
  assert.ok(page.body.nextCursor, JSON.stringify(page.body));
  assert.equal((await api(s.url, s.keys.platform, 'GET', `/v1/claims?limit=1&cursor=${page.body.nextCursor}`)).status, 200);
});

test('a text part sent twice, or a file name over 255 characters, is refused with 400', async () => {
  const before = await counts();
  const claimPart = (reason: string) => ({ headers: 'Content-Disposition: form-data; name="claim"', body: JSON.stringify({ orderId: 'o-in', type: 'refund_only', reason, amount: 10 }) });
  const twice = await postRaw('/v1/claims', rawMultipart([claimPart('first'), claimPart('second'), { headers: 'Content-Disposition: form-data; name="evidence"; filename="p.jpg"\r\nContent-Type: image/jpeg', body: jpeg }]));
  assert.equal(twice.status, 400, JSON.stringify(twice.body));
  assert.match(twice.body.error.message, /'claim' part appears more than once/);
  const fd = new FormData();
  fd.append('kind', 'listing');
  fd.append('kind', 'packing');
  fd.append('file', new Blob([new Uint8Array(jpeg)], { type: 'image/jpeg' }), 'r.jpg');
  const refTwice = await api(s.url, s.keys.merchant, 'POST', '/v1/skus/S1/references', fd);
  assert.equal(refTwice.status, 400, JSON.stringify(refTwice.body));
  const longName = await api(s.url, s.keys.platform, 'POST', '/v1/claims', claimForm({}, `${'n'.repeat(300)}.jpg`));
  assert.equal(longName.status, 400, JSON.stringify(longName.body));
  assert.match(longName.body.error.message, /longer than 255 characters/);
  assert.deepEqual(await counts(), before, 'nothing stored');
  assert.ok((await verifyAudit(s.rt.store.db)).ok);
});

test('an upload declared as text/html is stored and served as the image it is, inert if opened on its own', async () => {
  const r = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form({ claim: { orderId: 'o-in', type: 'refund_only', reason: 'broken', amount: 10 } }, [{ field: 'evidence', name: 'x.html', bytes: jpeg, type: 'text/html' }]));
  assert.equal(r.status, 202, JSON.stringify(r.body));
  const claim = (await api(s.url, s.keys.platform, 'GET', `/v1/claims/${r.body.id}`)).body;
  const media = await fetch(s.url + claim.evidence[0].url, { headers: { authorization: `Bearer ${s.keys.platform}` } });
  assert.equal(media.status, 200);
  assert.equal(media.headers.get('content-type'), 'image/jpeg');
  assert.equal(media.headers.get('x-content-type-options'), 'nosniff');
  assert.match(media.headers.get('content-security-policy') ?? '', /sandbox/);
  assert.deepEqual(Buffer.from(await media.arrayBuffer()), jpeg);
  // a row written before the fix, with the declared type stored, is served as its format too
  await s.rt.store.db.query("UPDATE media SET content_type = 'text/html' WHERE id = $1", [claim.evidence[0].id]);
  const old = await fetch(s.url + claim.evidence[0].url, { headers: { authorization: `Bearer ${s.keys.platform}` } });
  assert.equal(old.headers.get('content-type'), 'image/jpeg');
  await old.arrayBuffer();
});

test('a currency is an upper-case ISO 4217 code; a key named __proto__ is refused by name', async () => {
  for (const currency of ['xyz', '€€€', 'cn1']) {
    const r = await api(s.url, s.keys.platform, 'POST', '/v1/orders', { id: `o-cur-${currency}`, buyerId: 'b1', merchantId: 'm1', sku: 'S1', amount: 5, currency });
    assert.equal(r.status, 400, `${currency}: ${JSON.stringify(r.body)}`);
    const fd = new FormData();
    fd.append('order', JSON.stringify({ id: `o-cur-${currency}`, buyerId: 'b1', merchantId: 'm1', sku: 'S1', amount: 5, currency }));
    assert.equal((await api(s.url, s.keys.platform, 'POST', '/v1/orders', fd)).status, 400, `multipart ${currency}`);
  }
  const proto = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form({ claim: '{"orderId":"o-in","type":"refund_only","reason":"r","amount":1,"__proto__":{"x":1}}' }, [{ field: 'evidence', name: 'p.jpg', bytes: jpeg }]));
  assert.equal(proto.status, 400, JSON.stringify(proto.body));
  assert.equal(proto.body.error.message, 'claim.__proto__ is not a known field');
});

test('the review queue filters within its states only', async () => {
  const r = await api(s.url, s.keys.reviewer, 'GET', '/v1/review-queue?state=approved');
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.match(r.body.error.message, /review queue holds in_review, escalated, awaiting_merchant/);
  assert.equal((await api(s.url, s.keys.reviewer, 'GET', '/v1/review-queue?state=in_review')).status, 200);
});
