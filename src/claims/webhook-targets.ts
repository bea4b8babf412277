// Which addresses a webhook may be delivered to.
//
// A platform key chooses the webhook URL, and the service then makes requests to it from
// inside the operator's network. Without a check, a key holder could point a webhook at the
// cloud metadata endpoint (169.254.169.254), at the database, or at an admin port on
// loopback, and read the answers' status codes from the delivery log (server-side request
// forgery). So by default only public addresses are allowed:
//   - at registration the URL must be http(s) without credentials, and a literal IP host must
//     be public;
//   - at delivery the host name is resolved by the connection itself through `guardedLookup`,
//     which refuses non-public addresses, so a name that resolves to a private address (or is
//     re-pointed there after registration: DNS rebinding) is refused at the moment of the
//     connection, not at an earlier check.
// A deployment whose receivers sit on a private network sets `webhookAllowPrivate` (env
// CLAIMLENS_WEBHOOK_ALLOW_PRIVATE=1); the tests do, for their loopback receiver.

import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/** Address ranges that are not the public internet (IANA special-purpose registries). */
const NON_PUBLIC = (() => {
  const b = new BlockList();
  for (const [net, bits] of [
    ['0.0.0.0', 8], // "this network"
    ['10.0.0.0', 8],
    ['100.64.0.0', 10], // carrier-grade NAT
    ['127.0.0.0', 8],
    ['169.254.0.0', 16], // link-local, cloud metadata
    ['172.16.0.0', 12],
    ['192.0.0.0', 24],
    ['192.0.2.0', 24],
    ['192.168.0.0', 16],
    ['198.18.0.0', 15],
    ['198.51.100.0', 24],
    ['203.0.113.0', 24],
    ['224.0.0.0', 4], // multicast
    ['240.0.0.0', 4], // reserved, broadcast
  ] as const) {
    b.addSubnet(net, bits, 'ipv4');
  }
  for (const [net, bits] of [
    ['::', 128],
    ['::1', 128],
    ['64:ff9b:1::', 48],
    ['100::', 64],
    ['2001:db8::', 32],
    ['fc00::', 7], // unique local
    ['fe80::', 10], // link-local
    ['ff00::', 8], // multicast
  ] as const) {
    b.addSubnet(net, bits, 'ipv6');
  }
  return b;
})();

/** True for an IP address on the public internet (IPv4-mapped IPv6 judged as its IPv4). */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return isPublicAddress(mapped[1]!);
    if (/^::ffff:/i.test(address)) return false; // mapped in hex form: refuse rather than parse
    return !NON_PUBLIC.check(address, 'ipv6');
  }
  return !NON_PUBLIC.check(address, 'ipv4');
}

export class WebhookTargetError extends Error {
  readonly code = 'webhook_target_not_allowed';
}

export interface UrlProblem {
  /** `webhook_target_not_allowed` for a non-public target, `invalid_request` otherwise. */
  code: 'invalid_request' | 'webhook_target_not_allowed';
  message: string;
}

/** Checks a webhook URL (at registration and before each delivery); undefined when fine. */
export function webhookUrlProblem(url: string, allowPrivate: boolean): UrlProblem | undefined {
  const invalid = (message: string): UrlProblem => ({ code: 'invalid_request', message });
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return invalid('url is not a URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return invalid('url must be http or https');
  if (u.username || u.password) return invalid('url must not carry credentials (the signature authenticates us)');
  if (allowPrivate) return undefined;
  // "localhost." (the fully qualified form) names the same host
  const host = u.hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '');
  const hint = 'set CLAIMLENS_WEBHOOK_ALLOW_PRIVATE=1 to allow receivers on private networks';
  if (isIP(host) && !isPublicAddress(host)) return { code: 'webhook_target_not_allowed', message: `url points at a non-public address (${host}); ${hint}` };
  if (host === 'localhost' || host.endsWith('.localhost')) return { code: 'webhook_target_not_allowed', message: `url points at localhost; ${hint}` };
  return undefined;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http(s).request that resolves as usual and refuses the connection when any
 * resolved address is not public (all of them are checked, so a name with one public and one
 * private address cannot be used to reach the private one).
 */
export function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '');
    const list = addresses as LookupAddress[];
    const bad = list.find((a) => !isPublicAddress(a.address));
    if (bad) {
      const e = new WebhookTargetError(`${hostname} resolves to a non-public address (${bad.address})`) as NodeJS.ErrnoException;
      return callback(e, '');
    }
    if (options.all) return callback(null, list);
    const first = list[0];
    if (!first) return callback(new Error(`${hostname}: no address`) as NodeJS.ErrnoException, '');
    callback(null, first.address, first.family);
  });
}
