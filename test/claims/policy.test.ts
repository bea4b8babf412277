// The review policy as data: validation of the rules file and the routes it recommends.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_POLICY, PolicyError, evaluatePolicy, loadPolicyFile, validatePolicy } from '../../src/claims/policy.ts';
import type { ImageReport } from '../../src/forensics/types.ts';

const clean: ImageReport = { file: 'a.jpg', verdict: 'clean', risk: 0.05, signals: [] };
const cleanBuyer = { rejectedClaims: 0, flaggedClaims: 0, claimsInWindow: 1 };
const base = { type: 'refund_only' as const, amount: 50, images: [clean], buyer: cleanBuyer, previouslyBlocked: false };

test('default policy: auto-approve only when every photo is low risk, the amount is small and the buyer clean', () => {
  assert.equal(evaluatePolicy(DEFAULT_POLICY, base).outcome, 'auto_approve');
  assert.equal(evaluatePolicy(DEFAULT_POLICY, { ...base, amount: 201 }).outcome, 'merchant_window');
  assert.equal(evaluatePolicy(DEFAULT_POLICY, { ...base, images: [clean, { ...clean, file: 'b.jpg', risk: 0.25 }] }).outcome, 'merchant_window');
  assert.equal(evaluatePolicy(DEFAULT_POLICY, { ...base, images: [{ ...clean, verdict: 'suspicious', risk: 0.1 }] }).outcome, 'merchant_window');
  assert.equal(evaluatePolicy(DEFAULT_POLICY, { ...base, buyer: { ...cleanBuyer, rejectedClaims: 1 } }).outcome, 'merchant_window');
  assert.equal(evaluatePolicy(DEFAULT_POLICY, { ...base, buyer: { ...cleanBuyer, claimsInWindow: 4 } }).outcome, 'merchant_window');
  assert.equal(evaluatePolicy(DEFAULT_POLICY, { ...base, images: [{ file: 'x.jpg', signals: [], error: { code: 'truncated', message: '' } }] }).outcome, 'merchant_window');
  assert.equal(evaluatePolicy(DEFAULT_POLICY, { ...base, images: [] }).outcome, 'merchant_window');
});

test('a tampered or AI-generated photo blocks approval and asks for more evidence, once', () => {
  for (const verdict of ['tampered', 'ai_generated'] as const) {
    const r = evaluatePolicy(DEFAULT_POLICY, { ...base, images: [clean, { ...clean, file: 'b.jpg', verdict, risk: 0.9 }] });
    assert.equal(r.outcome, 'request_more_evidence');
    assert.match(r.reasons[0]!, new RegExp(verdict));
  }
  // Blocked again after the new photo: people decide, the buyer is not asked forever.
  const again = evaluatePolicy(DEFAULT_POLICY, { ...base, previouslyBlocked: true, images: [{ ...clean, verdict: 'tampered', risk: 0.9 }] });
  assert.equal(again.outcome, 'merchant_window');
  // A clean new photo after a block still goes to people, with the reason.
  const after = evaluatePolicy(DEFAULT_POLICY, { ...base, previouslyBlocked: true });
  assert.equal(after.outcome, 'merchant_window');
});

test('the rules file is validated with messages naming each bad field', () => {
  assert.deepEqual(validatePolicy({}), DEFAULT_POLICY);
  const custom = validatePolicy({ autoApprove: { maxAmount: 500 }, merchantResponseWindowHours: 24 });
  assert.equal(custom.autoApprove.maxAmount, 500);
  assert.equal(custom.autoApprove.maxImageRisk, DEFAULT_POLICY.autoApprove.maxImageRisk);
  assert.equal(custom.merchantResponseWindowHours, 24);
  assert.throws(() => validatePolicy({ autoApprove: { maxImageRisk: 2 } }), /autoApprove\.maxImageRisk must be a number ≥ 0 and ≤ 1/);
  assert.throws(() => validatePolicy({ blockingVerdicts: ['evil'] }), /blockingVerdicts must be a list of/);
  assert.throws(() => validatePolicy({ autoApprove: { allowedVerdicts: ['clean', 'tampered'] } }), /must not contain a verdict listed in blockingVerdicts/);
  assert.throws(() => validatePolicy({ moreEvidence: { codeLength: 2.5 } }), PolicyError);
  assert.throws(() => validatePolicy([]), /must be a JSON object/);
  // a misspelt field inside a section is refused, not left to the default (QA, session 15)
  assert.throws(() => validatePolicy({ autoApprove: { maxAmout: 100 } }), /unknown field 'autoApprove\.maxAmout'/);
  assert.throws(() => validatePolicy({ buyerRecord: { windowDay: 30 }, moreEvidence: { hours: 1 } }), /unknown field 'buyerRecord\.windowDay'; unknown field 'moreEvidence\.hours'/);
  assert.equal(validatePolicy({ autoApprove: { $comment: 'why 300', maxAmount: 300 } }).autoApprove.maxAmount, 300);
  // a window the database's date arithmetic cannot take is refused at start
  assert.throws(() => validatePolicy({ buyerRecord: { windowDays: 10_000_000 } }), /buyerRecord\.windowDays must be a number ≥ 0 and ≤ 36500/);
  const dir = mkdtempSync(join(tmpdir(), 'policy-'));
  try {
    writeFileSync(join(dir, 'p.json'), '{ "autoApprove": ');
    assert.throws(() => loadPolicyFile(join(dir, 'p.json')), /not valid JSON/);
    assert.throws(() => loadPolicyFile(join(dir, 'missing.json')), /cannot read the rules file/);
    writeFileSync(join(dir, 'ok.json'), JSON.stringify({ autoApprove: { enabled: false } }));
    assert.equal(evaluatePolicy(loadPolicyFile(join(dir, 'ok.json')), base).outcome, 'merchant_window');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
