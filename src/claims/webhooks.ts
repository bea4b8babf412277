// Outgoing webhooks: each event is POSTed as JSON with a timestamp and an HMAC-SHA256
// signature over `timestamp.body` made with the endpoint's secret, so the receiver can
// check it came from us and is not a replay (reject timestamps older than a few minutes).

import { createHmac, timingSafeEqual } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { guardedLookup, webhookUrlProblem } from './webhook-targets.ts';

export const SIGNATURE_HEADER = 'x-claimlens-signature';
export const TIMESTAMP_HEADER = 'x-claimlens-timestamp';
export const EVENT_ID_HEADER = 'x-claimlens-event-id';

export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** For receivers (and tests): true when the signature matches and the timestamp is fresh. */
export function verifyWebhook(secret: string, timestamp: string, body: string, signature: string, toleranceSeconds = 300, now = Date.now()): boolean {
  const ts = Number(timestamp);
  if (!Number.isFinite(ts) || Math.abs(now / 1000 - ts) > toleranceSeconds) return false;
  const want = Buffer.from(signWebhook(secret, timestamp, body));
  const got = Buffer.from(signature);
  return want.length === got.length && timingSafeEqual(want, got);
}

export interface DeliveryResult {
  ok: boolean;
  status?: number;
  error?: string;
  ms: number;
}

/**
 * POSTs one event. Redirects are not followed (a 3xx is a failed delivery). Unless
 * `allowPrivate`, the connection may only go to public addresses (see webhook-targets.ts):
 * the host name is resolved by the connection itself, so the check cannot be raced.
 */
export function deliverWebhook(
  url: string,
  secret: string,
  event: { id: string },
  timeoutMs: number,
  opts: { allowPrivate?: boolean } = {},
): Promise<DeliveryResult> {
  const body = JSON.stringify(event);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const t0 = performance.now();
  const done = (r: Omit<DeliveryResult, 'ms'>): DeliveryResult => ({ ...r, ms: Math.round(performance.now() - t0) });
  const problem = webhookUrlProblem(url, opts.allowPrivate ?? false);
  if (problem) return Promise.resolve(done({ ok: false, error: problem.message }));
  const u = new URL(url);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<DeliveryResult>((resolve) => {
    let settled = false;
    const finish = (r: Omit<DeliveryResult, 'ms'>) => {
      if (settled) return;
      settled = true;
      resolve(done(r));
    };
    const req = request(
      u,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          [TIMESTAMP_HEADER]: timestamp,
          [SIGNATURE_HEADER]: signWebhook(secret, timestamp, body),
          [EVENT_ID_HEADER]: event.id,
          'user-agent': 'claimlens-webhooks/1',
        },
        ...(opts.allowPrivate ? {} : { lookup: guardedLookup as any }),
        signal: AbortSignal.timeout(timeoutMs),
      },
      (res) => {
        res.resume(); // the answer's body is not used; read it so the socket is released
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          finish(status >= 200 && status < 300 ? { ok: true, status } : { ok: false, status, error: `HTTP ${status}` });
        });
        res.on('error', (e) => finish({ ok: false, status: res.statusCode, error: e.message }));
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => {
      const cause = e.cause instanceof Error ? `: ${e.cause.message}` : '';
      finish({ ok: false, error: e.name === 'AbortError' || e.name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : `${e.message}${cause}` });
    });
    req.end(body);
  });
}
