// Outgoing webhooks: each event is POSTed as JSON with a timestamp and an HMAC-SHA256
// signature over `timestamp.body` made with the endpoint's secret, so the receiver can
// check it came from us and is not a replay (reject timestamps older than a few minutes).

import { createHmac, timingSafeEqual } from 'node:crypto';

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

export async function deliverWebhook(url: string, secret: string, event: { id: string }, timeoutMs: number): Promise<DeliveryResult> {
  const body = JSON.stringify(event);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const t0 = performance.now();
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [TIMESTAMP_HEADER]: timestamp,
        [SIGNATURE_HEADER]: signWebhook(secret, timestamp, body),
        [EVENT_ID_HEADER]: event.id,
        'user-agent': 'claimlens-webhooks/1',
      },
      body,
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual',
    });
    await res.arrayBuffer().catch(() => undefined);
    const ms = Math.round(performance.now() - t0);
    return res.status >= 200 && res.status < 300 ? { ok: true, status: res.status, ms } : { ok: false, status: res.status, error: `HTTP ${res.status}`, ms };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? (e.cause instanceof Error ? `${e.message}: ${e.cause.message}` : e.message) : String(e), ms: Math.round(performance.now() - t0) };
  }
}
