// Request rate limits per API key (per client address for requests without a key), with
// @fastify/rate-limit. Counters live in this process by default; with a Redis URL they live
// in Redis, so that several API processes behind a load balancer share one limit per key.
//
// The limit is per key, not per tenant's buyer: a platform submits all its buyers' claims
// through one key, so the default is generous (protection against a runaway client, not a
// quota). Keys are counted under a hash of the key, so the secret never reaches Redis.
// If Redis is unreachable the request is let through (and logged): the limiter must not take
// the API down with it. GET /healthz is not limited (load balancers poll it).

import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';

export interface RateLimitOptions {
  /** Requests per window per API key; 0 turns limiting off. */
  max: number;
  /** Requests per window per client address for requests without a key (default max / 100, at least 60). */
  anonymousMax?: number;
  /** Window length in ms (default 60 000). */
  timeWindowMs?: number;
  /** redis://… to share counters between processes; in-process counters otherwise. */
  redisUrl?: string;
  /** Prefix of the Redis keys (default 'claimlens-rl:'). */
  nameSpace?: string;
}

/** The limiter's bucket for a request: the key's hash, or the client address. */
export function rateLimitKey(req: FastifyRequest): string {
  const auth = req.headers.authorization;
  const m = typeof auth === 'string' ? /^Bearer\s+(\S+)$/i.exec(auth) : null;
  if (m) return `key:${createHash('sha256').update(m[1]!).digest('hex').slice(0, 32)}`;
  return `ip:${req.ip}`;
}

/** Registers the limiter on `app` (all routes); resolves once Redis, if any, is set up. */
export async function registerRateLimit(app: FastifyInstance, o: RateLimitOptions): Promise<void> {
  if (!o.max || o.max <= 0) return;
  const anonymousMax = o.anonymousMax ?? Math.max(60, Math.floor(o.max / 100));
  let redis: import('ioredis').Redis | undefined;
  if (o.redisUrl) {
    const { Redis } = await import('ioredis');
    redis = new Redis(o.redisUrl, { connectTimeout: 1000, maxRetriesPerRequest: 1, lazyConnect: false });
    redis.on('error', (e) => app.log.warn({ err: e }, 'rate-limit redis error'));
    app.addHook('onClose', async () => {
      await redis!.quit().catch(() => redis!.disconnect());
    });
  }
  const windowMs = o.timeWindowMs ?? 60_000;
  await app.register((await import('@fastify/rate-limit')).default, {
    global: true,
    max: (req: FastifyRequest) => (rateLimitKey(req).startsWith('key:') ? o.max : anonymousMax),
    timeWindow: windowMs,
    keyGenerator: rateLimitKey,
    // health checks come from load balancers, many per second from one address
    allowList: (req: FastifyRequest) => req.url === '/healthz',
    ...(redis ? { redis, nameSpace: o.nameSpace ?? 'claimlens-rl:' } : {}),
    skipOnError: true,
    errorResponseBuilder: (_req, ctx) => ({
      statusCode: 429,
      code: 'rate_limited',
      message: `too many requests: at most ${ctx.max} per ${Math.round(windowMs / 1000)} s for this key; retry in ${ctx.after}`,
    }),
  });
}
