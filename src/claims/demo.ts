// Demo data for `claimlens serve`: a demo tenant with keys, a merchant SKU with a listing
// photo, and a few claims whose photos are drawn here in code (no sample files shipped):
// a genuine-looking photo on a small order (automatic approval), the same kind on a
// larger order (merchant window and review), and a picture carrying a GB 45438 AIGC label
// (blocked, more evidence requested).

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { intakeImage } from '../forensics/intake.ts';
import type { AcceptedFile, Principal } from './model.ts';
import type { ClaimsService } from './service.ts';

export const DEMO_TENANT = 'demo';
export const DEMO_MERCHANT = 'demo-merchant';

export interface DemoKeys {
  platform: string;
  merchant: string;
  reviewer: string;
}

/** A product shape: a box with a label, drawn as SVG. */
function productSvg(w: number, h: number, bg: string, dx = 0, dy = 0, crack = false): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">
  <rect width="100%" height="100%" fill="${bg}"/>
  <g transform="translate(${w / 2 - 160 + dx},${h / 2 - 200 + dy})">
    <rect x="0" y="0" width="320" height="400" rx="24" fill="#c8553d"/>
    <rect x="30" y="120" width="260" height="140" rx="12" fill="#f3e9dc"/>
    <text x="160" y="205" font-size="54" font-family="sans-serif" text-anchor="middle" fill="#2d3047">TEA</text>
    ${crack ? '<path d="M40 20 L120 160 L90 230 L180 390" stroke="#222" stroke-width="6" fill="none"/>' : ''}
  </g></svg>`;
}

/** Listing photo: the product on white, as a merchant shoots it. */
export async function demoListingPhoto(): Promise<Buffer> {
  return sharp(Buffer.from(productSvg(800, 800, '#ffffff'))).jpeg({ quality: 90 }).toBuffer();
}

/** A buyer-style photo: the product on a table, off-centre, with sensor-like noise. */
export async function demoBuyerPhoto(seed: number, crack = false): Promise<Buffer> {
  const w = 1280;
  const h = 960;
  const { data, info } = await sharp(Buffer.from(productSvg(w, h, '#8d7b68', 90 - seed * 40, 40 + seed * 10, crack)))
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  let s = 1234 + seed * 7919;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    const v = data[i]! + (((s >>> 16) & 31) - 15.5) * 0.6 + (Math.floor(i / 3 / w) / h) * 25;
    data[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } }).jpeg({ quality: 88 }).toBuffer();
}

/** A PNG carrying a GB 45438-2025 implicit label (AIGC text chunk), as AI services must write. */
export async function demoAiLabelledPng(): Promise<Buffer> {
  const png = await sharp(Buffer.from(productSvg(800, 600, '#9aa5b1', 0, 0, true))).png().toBuffer();
  const label = JSON.stringify({ Label: '1', ContentProducer: 'demo-ai-service', ProduceID: 'demo-0001', ReservedCode1: '', ContentPropagator: '', PropagateID: '', ReservedCode2: '' });
  const text = Buffer.concat([Buffer.from('AIGC\0', 'latin1'), Buffer.from(label, 'latin1')]);
  // Insert the tEXt chunk right after IHDR (8-byte signature + 25-byte IHDR chunk).
  return Buffer.concat([png.subarray(0, 33), pngChunk('tEXt', text), png.subarray(33)]);
}

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

function crc32(b: Buffer): number {
  let c = ~0;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

async function accept(bytes: Buffer, filename: string): Promise<AcceptedFile> {
  const im = await intakeImage(bytes, { name: filename });
  return { bytes, size: bytes.length, sha256: im.sha256, filename, width: im.width, height: im.height, format: im.format };
}

/** What seedDemo found or made. */
export interface DemoSeed {
  /** The demo keys from DATA/demo-keys.json (undefined: the demo data is there, its keys file gone). */
  keys?: DemoKeys;
  created: boolean;
  /** Demo keys that no longer authenticate (revoked with `claimlens keys revoke`): shown as such. */
  revoked: Array<keyof DemoKeys>;
}

/**
 * Creates the demo tenant, keys and claims once per data folder. The demo keys are kept in
 * DATA/demo-keys.json (mode 0600) so they can be printed at every start: demo only; real
 * keys are only ever shown once, when made.
 *
 * Once the demo's data is in the database (its first order), it is never seeded again: a demo
 * key an operator revoked stays revoked (making new ones would silently give the access back,
 * and seeding again would fail on the orders that exist). A stored platform key that does not
 * authenticate while the demo's orders are absent is a keys file left from another database
 * (a new pgdata/, another DATABASE_URL): then the demo is seeded afresh.
 */
export async function seedDemo(service: ClaimsService, dataDir: string): Promise<DemoSeed> {
  const keysPath = join(dataDir, 'demo-keys.json');
  let stored: DemoKeys | undefined;
  if (existsSync(keysPath)) {
    try {
      stored = JSON.parse(readFileSync(keysPath, 'utf8')) as DemoKeys;
    } catch {
      stored = undefined; // unreadable or cut short: as if absent
    }
  }
  const seeded = (await service.db.query('SELECT 1 FROM orders WHERE tenant_id = $1 AND id = $2', [DEMO_TENANT, 'demo-order-1'])).rows.length > 0;
  if (stored && (seeded || (await service.authenticate(stored.platform)))) {
    const revoked: Array<keyof DemoKeys> = [];
    for (const role of ['platform', 'merchant', 'reviewer'] as const) if (!(await service.authenticate(stored[role]))) revoked.push(role);
    return { keys: stored, created: false, revoked };
  }
  if (seeded) return { keys: undefined, created: false, revoked: [] };
  await service.ensureTenant(DEMO_TENANT, 'Demo platform');
  const keys: DemoKeys = {
    platform: (await service.createApiKey(DEMO_TENANT, 'platform', null, 'demo')).key,
    merchant: (await service.createApiKey(DEMO_TENANT, 'merchant', DEMO_MERCHANT, 'demo')).key,
    reviewer: (await service.createApiKey(DEMO_TENANT, 'reviewer', null, 'demo')).key,
  };
  writeFileSync(keysPath, JSON.stringify(keys, null, 2) + '\n', { mode: 0o600 });
  const platform = (await service.authenticate(keys.platform)) as Principal;
  const merchant = (await service.authenticate(keys.merchant)) as Principal;
  const listing = await accept(await demoListingPhoto(), 'tea-listing.jpg');
  const photos = [await accept(await demoBuyerPhoto(0), 'buyer-photo-1.jpg'), await accept(await demoBuyerPhoto(1, true), 'buyer-photo-2.jpg')];
  const ai = await accept(await demoAiLabelledPng(), 'buyer-photo-3.png');
  await service.putBlobs([listing, ...photos, ai]);
  const delivered = new Date(Date.now() - 2 * 86_400_000).toISOString();
  await service.db.transaction((tx) => service.addSkuReferences(tx, merchant, 'TEA-001', undefined, [listing]));
  const plan: [string, string, number, number, AcceptedFile, string][] = [
    ['demo-order-1', 'buyer-001', 39, 39, photos[0]!, 'The tin arrived dented.'],
    ['demo-order-2', 'buyer-002', 688, 688, photos[1]!, 'The box is cracked, I want a full refund.'],
    ['demo-order-3', 'buyer-003', 128, 128, ai, 'Crack on the side of the box.'],
  ];
  for (const [orderId, buyerId, orderAmount, claimAmount, photo, reason] of plan) {
    await service.db.transaction((tx) =>
      service.createOrder(tx, platform, { id: orderId, buyerId, merchantId: DEMO_MERCHANT, sku: 'TEA-001', amount: orderAmount, currency: 'CNY', deliveredAt: delivered }, []),
    );
    await service.db.transaction((tx) => service.submitClaim(tx, platform, { orderId, type: 'refund_only', reason, amount: claimAmount }, [photo]));
  }
  service.opts.onJobsQueued?.();
  return { keys, created: true, revoked: [] };
}
