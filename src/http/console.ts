// The reviewer console: static files from web/ served at /console/ (plain ES modules and
// CSS, no build step), and / redirected there when nothing else answers on /.
// The console holds no data of its own: it talks to the /v1 API with the reviewer's key,
// so every read and decision goes through the same auth and tenant scoping as any client.

import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';

export const CONSOLE_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));
export const CONSOLE_PREFIX = '/console/';

/**
 * Nothing on the page may load from elsewhere: scripts, styles and fetches stay on this
 * origin; photos are shown from blob: URLs (fetched with the key) and heatmaps from data: URLs.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "img-src 'self' blob: data:",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

export async function consolePlugin(app: FastifyInstance): Promise<void> {
  await app.register(fastifyStatic, {
    root: CONSOLE_ROOT,
    // Without the trailing slash, so that /console redirects to /console/.
    prefix: CONSOLE_PREFIX.slice(0, -1),
    redirect: true,
    index: ['index.html'],
    // Reviewers should get a changed console at once after an upgrade; the files are small.
    cacheControl: false,
    etag: true,
    // @fastify/static 10 hands the Fastify reply here.
    setHeaders(reply: any) {
      reply.header('cache-control', 'no-cache');
      reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'no-referrer');
    },
  });
  // Routes are global in Fastify, so the check sees every route the API registered before us.
  if (!app.hasRoute({ method: 'GET', url: '/' })) {
    app.get('/', { schema: { hide: true } as any }, async (_req, reply) => reply.redirect(CONSOLE_PREFIX, 302));
  }
}
