// The buyer's evidence window: when no new photo comes before the deadline the claim goes
// to people; a reviewer can ask again, with a new code and a new deadline that fires too.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_POLICY, validatePolicy } from '../../src/claims/policy.ts';
import { api, form, photos, startTestServer, waitForState, type TestServer } from '../http/helpers.ts';

let s: TestServer;
before(async () => {
  s = await startTestServer({ policy: validatePolicy({ ...DEFAULT_POLICY, moreEvidence: { windowHours: 1.5 / 3600, codeLength: 6 } }) });
});
after(async () => {
  await s?.close();
});

test('evidence deadlines fire, also when evidence is requested again in the same round', async () => {
  await api(s.url, s.keys.platform, 'POST', '/v1/orders', { id: 'o1', buyerId: 'b', merchantId: 'm1', sku: 'S', amount: 100, currency: 'CNY' });
  const sub = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form({ claim: { orderId: 'o1', type: 'refund_only', reason: 'r', amount: 10 } }, [{ field: 'evidence', name: 'ai.jpg', bytes: photos.aiLabelled() }]));
  assert.equal(sub.status, 202);
  const asked = await waitForState(s.url, s.keys.platform, sub.body.id, ['more_evidence_requested']);
  const firstCode = asked.evidenceRequest.code;
  const expired = await waitForState(s.url, s.keys.platform, sub.body.id, ['in_review']);
  assert.equal(expired.evidenceRequest, null);
  let audit = (await api(s.url, s.keys.platform, 'GET', `/v1/claims/${sub.body.id}/audit`)).body.entries;
  assert.equal(audit.at(-1).action, 'deadline.more_evidence_expired');
  assert.ok(Date.parse(audit.at(-1).data.firedAt) >= Date.parse(asked.deadlines.moreEvidence));

  const again = await api(s.url, s.keys.reviewer, 'POST', `/v1/claims/${sub.body.id}/decisions`, { decision: 'request_more_evidence', reason: 'please photograph the item with the code' });
  assert.equal(again.status, 201);
  const asked2 = (await api(s.url, s.keys.platform, 'GET', `/v1/claims/${sub.body.id}`)).body;
  assert.equal(asked2.state, 'more_evidence_requested');
  assert.match(asked2.evidenceRequest.code, /^\d{6}$/);
  assert.notEqual(asked2.deadlines.moreEvidence, asked.deadlines.moreEvidence);
  assert.ok(firstCode, 'the first request had a code too');
  await waitForState(s.url, s.keys.platform, sub.body.id, ['in_review']);
  audit = (await api(s.url, s.keys.platform, 'GET', `/v1/claims/${sub.body.id}/audit`)).body.entries;
  assert.deepEqual(audit.slice(-2).map((e: any) => e.action), ['decision.request_more_evidence', 'deadline.more_evidence_expired']);
});
