// Request limits per API key: in-process counters, and counters shared through the Redis
// server on this machine by two separate apps (as two API processes would).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { registerRateLimit } from '../../src/http/rate-limit.ts';
import { api, startTestServer } from './helpers.ts';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

test('a key over its limit gets 429 rate_limited with Retry-After; other keys are not affected', async () => {
  const s = await startTestServer({ runJobs: false, poolSize: 0, rateLimit: { max: 5, anonymousMax: 3 } });
  try {
    for (let i = 0; i < 5; i++) {
      const r = await fetch(`${s.url}/v1/me`, { headers: { authorization: `Bearer ${s.keys.reviewer}` } });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-ratelimit-remaining'), String(4 - i));
    }
    const over = await fetch(`${s.url}/v1/me`, { headers: { authorization: `Bearer ${s.keys.reviewer}` } });
    assert.equal(over.status, 429);
    assert.ok(Number(over.headers.get('retry-after')) > 0);
    const body = (await over.json()) as any;
    assert.equal(body.error.code, 'rate_limited');
    assert.match(body.error.message, /at most 5 per 60 s/);
    assert.equal((await api(s.url, s.keys.platform, 'GET', '/v1/me')).status, 200, 'another key has its own budget');
    // requests without a key are counted per client address, with their own (smaller) limit
    const anon = [];
    for (let i = 0; i < 4; i++) anon.push((await fetch(`${s.url}/openapi.json`)).status);
    assert.deepEqual(anon, [200, 200, 200, 429]);
    for (let i = 0; i < 10; i++) assert.equal((await fetch(`${s.url}/healthz`)).status, 200, 'health checks are not limited');
  } finally {
    await s.close();
  }
});

test('with Redis, two API processes share one limit per key', async () => {
  const nameSpace = `claimlens-rl-test-${process.pid}-${Date.now()}:`;
  const apps = await Promise.all(
    [0, 1].map(async () => {
      const app = Fastify();
      await registerRateLimit(app, { max: 4, timeWindowMs: 60_000, redisUrl: REDIS_URL, nameSpace });
      app.get('/x', async () => ({ ok: true }));
      return { app, url: await app.listen({ port: 0, host: '127.0.0.1' }) };
    }),
  );
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const { url } = apps[i % 2]!;
      statuses.push((await fetch(`${url}/x`, { headers: { authorization: 'Bearer clk_shared_key_for_test' } })).status);
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429], 'the 5th request overall is refused, whichever process gets it');
    assert.equal((await fetch(`${apps[1]!.url}/x`, { headers: { authorization: 'Bearer clk_other_key' } })).status, 200);
    // the secret never reaches Redis: keys are stored under a hash of it
    const { Redis } = await import('ioredis');
    const r = new Redis(REDIS_URL);
    try {
      const stored = await r.keys(`${nameSpace}*`);
      assert.ok(stored.length >= 2, stored.join(' '));
      assert.ok(stored.every((k) => !k.includes('clk_')), stored.join(' '));
      if (stored.length) await r.del(...stored);
    } finally {
      r.disconnect();
    }
  } finally {
    for (const { app } of apps) await app.close();
  }
});

test('an unreachable Redis lets requests through instead of failing them', async () => {
  const app = Fastify();
  await registerRateLimit(app, { max: 2, redisUrl: 'redis://127.0.0.1:1', nameSpace: 'x:' });
  app.get('/x', async () => ({ ok: true }));
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${url}/x`, { headers: { authorization: 'Bearer k' } })).status);
    assert.deepEqual(statuses, [200, 200, 200]);
  } finally {
    await app.close();
  }
});
