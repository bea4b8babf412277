// End to end through the real HTTP server: a claim with real photos goes from submission
// through analysis, the merchant window and review to a decision; bad uploads are refused
// whole; the AI-labelled photo path asks the buyer for a new photo with a one-time code.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { verifyAudit } from '../../src/claims/audit.ts';
import { demoBuyerPhoto } from '../../src/claims/demo.ts';
import { TRANSFORMS, listSourcePhotos } from '../../bench/pdq-robustness-set.ts';
import { jpegCases, jpegSources } from '../../bench/forgery/jpeg-set.ts';
import { validateImage } from '../../src/forensics/intake.ts';
import { validateStructure } from '../../src/forensics/structure.ts';
import { api, form, photos, pixelBombPng, startTestServer, waitForState, type TestServer } from './helpers.ts';

let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(async () => {
  await s?.close();
});

async function setupOrder(id: string, amount: number, buyer = 'b1') {
  const refs = await api(s.url, s.keys.merchant, 'POST', '/v1/skus/ANJOU/references', form({}, [{ field: 'file', name: 'anjou.jpg', bytes: photos.listing() }]));
  assert.equal(refs.status, 201, JSON.stringify(refs.body));
  const o = await api(s.url, s.keys.platform, 'POST', '/v1/orders', { id, buyerId: buyer, merchantId: 'm1', sku: 'ANJOU', amount, currency: 'CNY', deliveredAt: '2026-01-02T10:00:00Z' });
  assert.equal(o.status, 201, JSON.stringify(o.body));
}

test('a claim goes from submission to a reviewer decision over HTTP', async () => {
  await setupOrder('o-e2e', 500);
  const sub = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form({ claim: { orderId: 'o-e2e', type: 'refund_only', reason: 'arrived bruised', amount: 450 } }, [{ field: 'evidence', name: 'photo.jpg', bytes: photos.natural() }]));
  assert.equal(sub.status, 202, JSON.stringify(sub.body));
  assert.equal(sub.body.state, 'submitted');
  const id = sub.body.id;

  // Amount above the auto-approval limit: the merchant response window opens.
  const c = await waitForState(s.url, s.keys.platform, id, ['awaiting_merchant']);
  assert.ok(c.deadlines.merchantResponse, 'merchant deadline set');
  const hours = (Date.parse(c.deadlines.merchantResponse) - Date.now()) / 3_600_000;
  assert.ok(hours > 47.9 && hours <= 48, `48 h window, got ${hours}`);
  assert.equal(c.analysis.images.length, 1);
  const im = c.analysis.images[0];
  // Same shape as `claimlens analyze --json` images.
  for (const k of ['file', 'sha256', 'width', 'height', 'format', 'risk', 'verdict', 'signals']) assert.ok(k in im, `image report has ${k}`);
  assert.ok(Array.isArray(im.signals));
  assert.match(c.policy.reasons.join(' '), /amount 450 above/);

  const q = await api(s.url, s.keys.reviewer, 'GET', '/v1/review-queue');
  const row = q.body.items.find((x: any) => x.id === id);
  assert.ok(row);
  // the queue carries the photo verdict, so a console need not open every claim
  assert.equal(row.verdict, im.verdict);
  assert.equal(c.verdict, im.verdict);

  const resp = await api(s.url, s.keys.merchant, 'POST', `/v1/claims/${id}/responses`, { text: 'The pear was fine when packed; see packing photo.' });
  assert.equal(resp.status, 201, JSON.stringify(resp.body));
  assert.equal(resp.body.state, 'in_review');

  const noReason = await api(s.url, s.keys.reviewer, 'POST', `/v1/claims/${id}/decisions`, { decision: 'approve' });
  assert.equal(noReason.status, 400);
  assert.equal(noReason.body.error.code, 'invalid_request');
  const merchantDecides = await api(s.url, s.keys.merchant, 'POST', `/v1/claims/${id}/decisions`, { decision: 'approve', reason: 'x' });
  assert.equal(merchantDecides.status, 403);

  const dec = await api(s.url, s.keys.reviewer, 'POST', `/v1/claims/${id}/decisions`, { decision: 'approve', reason: 'photo consistent with bruising in transit' });
  assert.equal(dec.status, 201, JSON.stringify(dec.body));
  const done = await api(s.url, s.keys.platform, 'GET', `/v1/claims/${id}`);
  assert.equal(done.body.state, 'approved');
  assert.equal(done.body.decisions[0].reason, 'photo consistent with bruising in transit');
  assert.equal(done.body.responses.length, 1);

  const again = await api(s.url, s.keys.reviewer, 'POST', `/v1/claims/${id}/decisions`, { decision: 'reject', reason: 'changed my mind' });
  assert.equal(again.status, 409);
  assert.equal(again.body.error.code, 'invalid_state');

  const audit = await api(s.url, s.keys.reviewer, 'GET', `/v1/claims/${id}/audit`);
  assert.deepEqual(
    audit.body.entries.map((e: any) => e.toState),
    ['submitted', 'analysing', 'awaiting_merchant', 'in_review', 'approved'],
  );
  const v = await verifyAudit(s.rt.store.db);
  assert.equal(v.ok, true, JSON.stringify(v.problems));

  const media = await api(s.url, s.keys.merchant, 'GET', done.body.evidence[0].url);
  assert.equal(media.status, 200);
});

test('a low-risk small claim from a clean buyer is approved automatically', async () => {
  await setupOrder('o-auto', 100, 'b-auto');
  // A photo drawn in code (no metadata oddities, never seen before).
  const photo = await demoBuyerPhoto(7);
  const sub = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form({ claim: { orderId: 'o-auto', type: 'refund_only', reason: 'bruised', amount: 50 } }, [{ field: 'evidence', name: 'p.jpg', bytes: photo }]));
  assert.equal(sub.status, 202);
  const c = await waitForState(s.url, s.keys.platform, sub.body.id, ['approved', 'awaiting_merchant', 'more_evidence_requested']);
  assert.equal(c.analysis.images[0].verdict, 'clean');
  assert.equal(c.state, 'approved', JSON.stringify(c.policy));
  assert.equal(c.policy.outcome, 'auto_approve');
  const audit = (await api(s.url, s.keys.platform, 'GET', `/v1/claims/${c.id}/audit`)).body.entries;
  assert.equal(audit.at(-1).actor, 'policy');

  // The same buyer's next claim is not auto-approved once a claim of theirs was rejected.
  await s.rt.store.db.query(`UPDATE claims SET state = 'rejected' WHERE id = $1`, [c.id]);
  const sub2 = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form({ claim: { orderId: 'o-auto', type: 'refund_only', reason: 'again', amount: 50 } }, [{ field: 'evidence', name: 'p2.jpg', bytes: await demoBuyerPhoto(8) }]));
  const c2 = await waitForState(s.url, s.keys.platform, sub2.body.id, ['approved', 'awaiting_merchant', 'more_evidence_requested']);
  assert.equal(c2.state, 'awaiting_merchant');
  assert.match(c2.policy.reasons.join(' '), /buyer has 1 rejected claims/);
});

test('damage painted between two saves keeps a small claim from automatic approval; the unedited re-save is approved', async () => {
  // two different photos: the same photo twice would (rightly) be reported as reused
  const sources = jpegSources(41, 1);
  const forged = (await jpegCases(sources[5]!)).find((c) => c.kind === 'forged' && c.q1 === 70)!;
  const resaved = (await jpegCases(sources[6]!)).find((c) => c.kind === 'resaved' && c.q1 === 70)!;
  await setupOrder('o-jpeg-forged', 100, 'b-jpeg-forged');
  await setupOrder('o-jpeg-resaved', 100, 'b-jpeg-resaved');
  const submit = (order: string, bytes: Uint8Array) =>
    api(s.url, s.keys.platform, 'POST', '/v1/claims', form({ claim: { orderId: order, type: 'refund_only', reason: 'broken', amount: 50 } }, [{ field: 'evidence', name: 'p.jpg', bytes }]));
  const [a, b] = await Promise.all([submit('o-jpeg-forged', forged.bytes), submit('o-jpeg-resaved', resaved.bytes)]);
  assert.equal(a.status, 202);
  assert.equal(b.status, 202);
  const done = ['approved', 'awaiting_merchant', 'more_evidence_requested'];
  const [ca, cb] = await Promise.all([waitForState(s.url, s.keys.platform, a.body.id, done), waitForState(s.url, s.keys.platform, b.body.id, done)]);
  const local = ca.analysis.images[0].signals.find((x: { id: string }) => x.id === 'jpeg.local_edit');
  assert.ok(local, JSON.stringify(ca.analysis.images[0].signals.map((x: { id: string }) => x.id)));
  assert.equal(ca.analysis.images[0].verdict, 'suspicious');
  assert.ok(local.evidence.regions.length > 0 && local.evidence.heatmap);
  assert.equal(ca.state, 'awaiting_merchant', 'a suspicious photo goes to people, never to automatic approval');
  assert.ok(!cb.analysis.images[0].signals.some((x: { id: string }) => x.id === 'jpeg.local_edit'));
  assert.ok(cb.analysis.images[0].signals.some((x: { id: string }) => x.id === 'jpeg.recompressed'));
  assert.equal(cb.state, 'approved', `a re-saved but unedited photo is no reason to hold an honest buyer back: ${JSON.stringify(cb.policy)}`);
});

test('an AI-labelled photo blocks approval and asks for a new photo with a code; a copy of the reference is caught', async () => {
  await setupOrder('o-ai', 100, 'b-ai');
  const sub = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form({ claim: { orderId: 'o-ai', type: 'refund_only', reason: 'cracked', amount: 20 } }, [{ field: 'evidence', name: 'crack.jpg', bytes: photos.aiLabelled() }]));
  assert.equal(sub.status, 202);
  const c = await waitForState(s.url, s.keys.platform, sub.body.id, ['more_evidence_requested', 'approved', 'awaiting_merchant']);
  assert.equal(c.state, 'more_evidence_requested', JSON.stringify(c.policy));
  assert.equal(c.analysis.images[0].verdict, 'ai_generated');
  assert.match(c.evidenceRequest.code, /^\d{6}$/);
  assert.ok(c.evidenceRequest.instructions.zh.includes(c.evidenceRequest.code));
  assert.ok(c.deadlines.moreEvidence);

  // The buyer sends the merchant's listing photo back as "new evidence".
  const ev = await api(s.url, s.keys.platform, 'POST', `/v1/claims/${c.id}/evidence`, form({}, [{ field: 'evidence', name: 'new.jpg', bytes: photos.listing() }]));
  assert.equal(ev.status, 202, JSON.stringify(ev.body));
  const c2 = await waitForState(s.url, s.keys.platform, c.id, ['awaiting_merchant', 'approved', 'in_review']);
  assert.equal(c2.state, 'awaiting_merchant');
  assert.equal(c2.round, 2);
  assert.ok(c2.analysis.newEvidenceProblems.some((p: string) => /identical|copy/.test(p)), JSON.stringify(c2.analysis.newEvidenceProblems));
});

test('a photo that passes the structural upload check but fails the full decode is never approved: typed error, review queue', async () => {
  await setupOrder('o-entropy', 100, 'b-entropy');
  // A clean photo (approved automatically when whole, see above) with 30 % of its
  // entropy-coded data cut out of the middle: every marker and length is intact and EOI is
  // there, so the structural check (the default) accepts it; libjpeg runs out of data before
  // the last block ("premature end of data segment").
  const p = Buffer.from(await demoBuyerPhoto(9));
  const sos = p.indexOf(Buffer.from([0xff, 0xda]));
  let at = Math.floor(sos + (p.length - sos) * 0.4);
  while (p[at - 1] === 0xff || p[at] === 0xff) at++; // do not split a stuffed 0xFF00 or a marker
  const cut = Math.floor((p.length - sos) * 0.3);
  const damaged = Buffer.concat([p.subarray(0, at), p.subarray(at + cut)]);
  assert.equal((await validateStructure(damaged)).width > 0, true);
  await assert.rejects(validateImage(damaged), (e: any) => e.code === 'corrupt');
  const sub = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form({ claim: { orderId: 'o-entropy', type: 'refund_only', reason: 'bruised', amount: 50 } }, [{ field: 'evidence', name: 'p.jpg', bytes: damaged }]));
  assert.equal(sub.status, 202, JSON.stringify(sub.body));
  const c = await waitForState(s.url, s.keys.platform, sub.body.id, ['approved', 'awaiting_merchant', 'more_evidence_requested', 'in_review']);
  assert.equal(c.state, 'awaiting_merchant', JSON.stringify(c.policy));
  assert.equal(c.analysis.images[0].error.code, 'corrupt', JSON.stringify(c.analysis.images[0]));
  assert.match(c.policy.reasons.join(' '), /not analysable \(corrupt\)/);
  const queue = await api(s.url, s.keys.reviewer, 'GET', '/v1/review-queue');
  assert.ok(queue.body.items.some((x: any) => x.id === c.id), 'the claim is in the review queue');
  // The photo is stored as sent (nothing lost): the reviewer sees the bytes.
  const media = await api(s.url, s.keys.platform, 'GET', c.evidence[0].url);
  assert.equal(media.status, 200);
});

test('bad uploads are refused whole with typed errors and change nothing', async () => {
  await setupOrder('o-bad', 100, 'b-bad');
  const before = (await s.rt.store.db.query('SELECT (SELECT count(*) FROM claims)::int c, (SELECT count(*) FROM media)::int m, (SELECT count(*) FROM audit_log)::int a')).rows[0];
  const claim = { claim: { orderId: 'o-bad', type: 'refund_only', reason: 'x', amount: 10 } };
  const cases: [string, Uint8Array, string, number, string][] = [
    ['truncated.jpg', photos.truncated(), 'image/jpeg', 422, 'truncated'],
    ['lie.png', photos.natural(), 'image/png', 415, 'format_mismatch'],
    ['bomb.png', pixelBombPng(), 'image/png', 413, 'pixel_limit'],
    ['empty.jpg', new Uint8Array(0), 'image/jpeg', 400, 'empty_file'],
  ];
  // A good photo no earlier test stored (a comment segment after SOI makes it new).
  const nat = photos.natural();
  const tag = Buffer.from('claimlens e2e: refused with a bad companion');
  const good = Buffer.concat([nat.subarray(0, 2), Buffer.from([0xff, 0xfe, 0, tag.length + 2]), tag, nat.subarray(2)]);
  const goodSha = createHash('sha256').update(good).digest('hex');
  for (const [name, bytes, type, status, code] of cases) {
    // A good photo first and the bad one second: the whole claim is refused.
    const r = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form(claim, [
      { field: 'evidence', name: 'good.jpg', bytes: good },
      { field: 'evidence', name, bytes, type },
    ]));
    assert.equal(r.status, status, `${name}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.code, code);
  }
  const bad = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form({ claim: '{not json' }, [{ field: 'evidence', name: 'a.jpg', bytes: photos.natural() }]));
  assert.equal(bad.status, 400);
  const badType = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form({ claim: { ...claim.claim, type: 'steal' } }, [{ field: 'evidence', name: 'a.jpg', bytes: photos.natural() }]));
  assert.equal(badType.status, 400);
  const after = (await s.rt.store.db.query('SELECT (SELECT count(*) FROM claims)::int c, (SELECT count(*) FROM media)::int m, (SELECT count(*) FROM audit_log)::int a')).rows[0];
  assert.deepEqual(after, before);
  // Nor on disk: the good companion's blob was never named and no temp file is left.
  assert.equal(await s.rt.store.blobs.has(goodSha), false, 'the good photo of a refused request is not in the blob store');
  assert.deepEqual(readdirSync(join(s.dataDir, 'blobs', 'tmp')), [], 'no temp blob left behind');
  // A claim JSON that fails its check is refused before its photo is written.
  const badJson = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form({ claim: { ...claim.claim, amount: 'lots' } }, [{ field: 'evidence', name: 'a.jpg', bytes: good }]));
  assert.equal(badJson.status, 400);
  assert.equal(await s.rt.store.blobs.has(goodSha), false, 'a refused claim JSON writes no blob');
  // The same two-photo claim with both photos good is stored whole.
  const ok = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form(claim, [
    { field: 'evidence', name: 'good.jpg', bytes: good },
    { field: 'evidence', name: 'second.jpg', bytes: photos.natural() },
  ]));
  assert.equal(ok.status, 202, JSON.stringify(ok.body));
  assert.equal(await s.rt.store.blobs.has(goodSha), true);
  assert.deepEqual(readdirSync(join(s.dataDir, 'blobs', 'tmp')), []);
});

test('OpenAPI document, docs page and health', async () => {
  const doc = await api(s.url, null, 'GET', '/openapi.json');
  assert.equal(doc.status, 200);
  assert.equal(doc.body.openapi, '3.1.0');
  for (const p of ['/v1/claims', '/v1/claims/{id}', '/v1/claims/{id}/decisions', '/v1/review-queue', '/v1/skus/{sku}/references', '/v1/orders']) {
    assert.ok(doc.body.paths[p], `documents ${p}`);
  }
  const docs = await fetch(s.url + '/docs/');
  assert.equal(docs.status, 200);
  assert.match(await docs.text(), /swagger/i);
  const h = await api(s.url, null, 'GET', '/healthz');
  assert.equal(h.body.ok, true);
  const unauth = await api(s.url, null, 'GET', '/v1/claims');
  assert.equal(unauth.status, 401);
  assert.equal(unauth.body.error.code, 'unauthorized');
});

test('a photo already used in an earlier claim is found through the reuse index', async () => {
  await setupOrder('o-reuse-1', 500, 'b-first');
  await setupOrder('o-reuse-2', 500, 'b-second');
  const photo = photos.natural();
  const first = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form({ claim: { orderId: 'o-reuse-1', type: 'refund_only', reason: 'r', amount: 300 } }, [{ field: 'evidence', name: 'a.jpg', bytes: photo }]));
  await waitForState(s.url, s.keys.platform, first.body.id, ['awaiting_merchant', 'approved', 'more_evidence_requested']);
  const second = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form({ claim: { orderId: 'o-reuse-2', type: 'refund_only', reason: 'r', amount: 300 } }, [{ field: 'evidence', name: 'b.jpg', bytes: photo }]));
  const c = await waitForState(s.url, s.keys.platform, second.body.id, ['awaiting_merchant', 'approved', 'more_evidence_requested']);
  const ids = c.analysis.images[0].signals.map((x: any) => x.id);
  assert.ok(ids.includes('reuse.seen_before'), `signals: ${ids.join(', ')}`);
  // The analysis context carries the claim's buyer, so the earlier claim is told apart as another buyer's.
  const seen = c.analysis.images[0].signals.find((x: any) => x.id === 'reuse.seen_before');
  assert.equal(seen.evidence.buyer, 'other_buyer');
  assert.notEqual(c.state, 'approved');
  // Another tenant's claims never match: its lookup sees its own hashes only.
  const rows = (await s.rt.store.db.query(`SELECT DISTINCT tenant_id FROM reuse_hashes`)).rows.map((r: any) => r.tenant_id);
  assert.deepEqual(rows, ['t1']);
});

test('a screenshot of a photo and the photo itself are found in either order', async () => {
  const shotOf = TRANSFORMS.find((t) => t.name === 'screenshot_frame')!.apply;
  const [a, b] = listSourcePhotos().filter((p) => p.kind === 'natural').filter((_, i) => i % 50 === 7);
  // buyer 1 sends a screenshot of photo A, buyer 2 photo A itself; then buyer 3 photo B, buyer 4 a screenshot of it
  const cases: Array<[Uint8Array, Uint8Array, string]> = [
    [await shotOf(a!.bytes), a!.bytes, 'shot-first'],
    [b!.bytes, await shotOf(b!.bytes), 'photo-first'],
  ];
  for (const [firstBytes, secondBytes, tag] of cases) {
    await setupOrder(`o-${tag}-1`, 500, `b-${tag}-1`);
    await setupOrder(`o-${tag}-2`, 500, `b-${tag}-2`);
    const first = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form({ claim: { orderId: `o-${tag}-1`, type: 'refund_only', reason: 'r', amount: 300 } }, [{ field: 'evidence', name: 'a.jpg', bytes: firstBytes }]));
    await waitForState(s.url, s.keys.platform, first.body.id, ['awaiting_merchant', 'approved', 'more_evidence_requested']);
    const second = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form({ claim: { orderId: `o-${tag}-2`, type: 'refund_only', reason: 'r', amount: 300 } }, [{ field: 'evidence', name: 'b.jpg', bytes: secondBytes }]));
    const c = await waitForState(s.url, s.keys.platform, second.body.id, ['awaiting_merchant', 'approved', 'more_evidence_requested']);
    const seen = c.analysis.images[0].signals.find((x: any) => x.id === 'reuse.seen_before');
    assert.ok(seen, `${tag}: ${c.analysis.images[0].signals.map((x: any) => x.id).join(', ')}`);
    assert.equal(seen.evidence.matches[0].ownerId, first.body.id, tag);
    assert.ok(seen.evidence.matches[0].distance <= 31, tag);
  }
});
