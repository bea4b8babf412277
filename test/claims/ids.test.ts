// Row ids drawn from a pooled random buffer: the shape stays the same, and no id repeats
// across the pool's refills.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newId } from '../../src/claims/ids.ts';

test('ids keep their shape: prefix, underscore, 96 random bits in base64url', () => {
  for (let i = 0; i < 600; i++) assert.match(newId('clm'), /^clm_[A-Za-z0-9_-]{16}$/);
});

test('no id repeats across many refills of the random pool', () => {
  const n = 256 * 40; // forty refills
  const ids = new Set(Array.from({ length: n }, () => newId('x')));
  assert.equal(ids.size, n);
  // Each character position takes many values: the bytes are not stuck at a constant.
  const firstChars = new Set([...ids].map((s) => s[2]));
  assert.ok(firstChars.size > 40, `only ${firstChars.size} distinct first characters`);
});
