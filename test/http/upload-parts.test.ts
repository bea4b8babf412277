// Our whole-body multipart parser (src/http/upload-parts.ts, parseMultipart) against busboy
// (@fastify/busboy, what @fastify/multipart runs on the other upload routes) as the oracle:
// on generated bodies and on mutations of them (cut, bytes flipped, line breaks inserted,
// boundaries dropped), both must read the same fields and files, or both must refuse.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Busboy } from '@fastify/busboy';
import { ServiceError } from '../../src/claims/errors.ts';
import { parseMultipart, type MultipartLimits } from '../../src/http/upload-parts.ts';

/** A small deterministic generator (xorshift), so a failure can be replayed from its seed. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(a: readonly T[]): T => a[Math.floor(next() * a.length)]! };
}

const BIG: MultipartLimits = { fileSize: 1 << 30, files: 1000, fields: 1000, fieldSize: 1 << 30, parts: 1000 };

type Parsed = { fields: Record<string, string>; files: { field: string; filename: string; mimetype: string; bytes: string }[] } | 'refused';

/** What busboy reads, as the serving thread's path sees it (last field of a name wins). */
function busboyParse(body: Buffer, contentType: string, limits: MultipartLimits): Promise<Parsed> {
  return new Promise((resolve) => {
    let bb: ReturnType<typeof Busboy>;
    try {
      bb = Busboy({ headers: { 'content-type': contentType }, limits });
    } catch {
      return resolve('refused');
    }
    const fields: Record<string, string> = {};
    const files: Exclude<Parsed, 'refused'>['files'] = [];
    let refused = false;
    const refuse = () => (refused = true);
    bb.on('field', (name: string, value: string, _nt: boolean, truncated: boolean) => {
      if (truncated) refuse();
      fields[name] = value;
    });
    bb.on('file', (name: string, stream: NodeJS.ReadableStream, filename: string, _enc: string, mimetype: string) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('limit', refuse);
      stream.on('error', refuse);
      // a part without a name is named "undefined" on both paths (as a property key)
      stream.on('end', () => files.push({ field: String(name), filename: filename ?? '', mimetype, bytes: Buffer.concat(chunks).toString('hex') }));
    });
    for (const e of ['filesLimit', 'fieldsLimit', 'partsLimit']) bb.on(e, refuse);
    bb.on('error', () => resolve('refused'));
    bb.on('finish', () => resolve(refused ? 'refused' : { fields, files }));
    bb.end(body);
  });
}

async function oursParse(body: Buffer, contentType: string, limits: MultipartLimits): Promise<Parsed> {
  try {
    const r = await parseMultipart(body, contentType, limits);
    return { fields: { ...r.fields }, files: r.files.map((f) => ({ field: f.field, filename: f.filename, mimetype: f.mimetype, bytes: f.bytes.toString('hex') })) };
  } catch (e) {
    assert.ok(e instanceof ServiceError, `a typed refusal, not ${e}`);
    return 'refused';
  }
}

const NAMES = ['claim', 'evidence', 'note', 'a b', '退款', 'x-y_z.1', 'file[]'];
const FILENAMES = ['p.jpg', 'dir/sub/p.jpg', 'C:\\Users\\me\\IMG_0001.JPG', '..', '照片 1.png', 'a;b.jpg', 'it%22s.jpg', ''];
const TYPES = [undefined, 'image/jpeg', 'application/octet-stream', 'text/plain; charset=utf-8', 'application/json', 'IMAGE/PNG'];
const BOUNDARIES = ['XyZ', '----WebKitFormBoundary7MA4YWxkTrZu0gW', '----formdata-undici-039627164732', 'a'.repeat(70), 'c'.repeat(100), "b'()+_,-./:=?"];

/** A random multipart body: parts with names, optional file names and types, data that may hold line breaks and near-boundaries. */
function generate(r: ReturnType<typeof rng>): { body: Buffer; contentType: string } {
  const boundary = r.pick(BOUNDARIES);
  const chunks: Buffer[] = [];
  if (r.int(4) === 0) chunks.push(Buffer.from('this is a preamble\r\n'));
  const n = 1 + r.int(5);
  for (let i = 0; i < n; i++) {
    const name = r.pick(NAMES);
    const filename = r.int(2) === 0 ? r.pick(FILENAMES) : undefined;
    const type = r.pick(TYPES);
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${name}"${filename !== undefined ? `; filename="${filename}"` : ''}\r\n`;
    if (type) head += `Content-Type: ${type}\r\n`;
    const len = r.pick([0, 1, 2, 10, 300, 5000]);
    const data = Buffer.alloc(len);
    for (let k = 0; k < len; k++) data[k] = r.int(256);
    // Sprinkle near-misses of the delimiter into the data.
    for (let k = 0; k < r.int(4) && len > 20; k++) Buffer.from(r.pick(['\r\n', '\r\n--', `\r\n-${boundary}`, `--${boundary}`, `\r\n--${boundary.slice(0, -1)}`])).copy(data, r.int(len - 12));
    chunks.push(Buffer.from(`${head}\r\n`), data, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  if (r.int(4) === 0) chunks.push(Buffer.from('an epilogue'));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary.includes("'") ? `"${boundary}"` : boundary}` };
}

/** A damaged copy: cut short, bytes flipped, a line break inserted, or the closing boundary dropped. */
function mutate(r: ReturnType<typeof rng>, body: Buffer): Buffer {
  const b = Buffer.from(body);
  switch (r.int(4)) {
    case 0:
      return b.subarray(0, r.int(b.length));
    case 1:
      for (let k = 0; k < 1 + r.int(3); k++) b[r.int(b.length)] = r.int(256);
      return b;
    case 2: {
      const at = r.int(b.length);
      return Buffer.concat([b.subarray(0, at), Buffer.from(r.pick(['\r\n', '\r', '\n', '\r\n\r\n'])), b.subarray(at)]);
    }
    default: {
      const end = b.lastIndexOf('--\r\n');
      return end > 0 ? b.subarray(0, end - 2) : b;
    }
  }
}

describe('parseMultipart against busboy', () => {
  test('the same parts from 400 generated bodies', async () => {
    for (let seed = 1; seed <= 400; seed++) {
      const { body, contentType } = generate(rng(seed));
      const [theirs, ours] = [await busboyParse(body, contentType, BIG), await oursParse(body, contentType, BIG)];
      assert.notEqual(theirs, 'refused', `seed ${seed}: busboy reads a well-formed body`);
      assert.deepEqual(ours, theirs, `seed ${seed}`);
    }
  });

  test('the same parts, or both refuse, on 1500 damaged bodies', async () => {
    let refused = 0;
    for (let seed = 1; seed <= 1500; seed++) {
      const r = rng(seed * 7919);
      const { body, contentType } = generate(r);
      const damaged = mutate(r, body);
      if (damaged.length === 0) continue; // an empty body is an empty form on both paths (@fastify/multipart's rule)
      const [theirs, ours] = [await busboyParse(damaged, contentType, BIG), await oursParse(damaged, contentType, BIG)];
      assert.deepEqual(ours, theirs, `seed ${seed * 7919}`);
      if (ours === 'refused') refused++;
    }
    assert.ok(refused > 100, `damage is refused often enough to mean something (${refused})`);
  });

  test('limits: both refuse past each one, both read a body at the limit', async () => {
    const boundary = 'L';
    const part = (name: string, value: string, filename?: string) =>
      `--${boundary}\r\nContent-Disposition: form-data; name="${name}"${filename ? `; filename="${filename}"` : ''}\r\n\r\n${value}\r\n`;
    const ct = `multipart/form-data; boundary=${boundary}`;
    const cases: [string, string, Partial<MultipartLimits>][] = [
      ['file size', part('f', 'x'.repeat(11), 'a.bin'), { fileSize: 10 }],
      ['field size', part('t', 'y'.repeat(11)), { fieldSize: 10 }],
      ['files', part('f', '1', 'a') + part('f', '2', 'b') + part('f', '3', 'c'), { files: 2 }],
      ['fields', part('a', '1') + part('b', '2') + part('a', '3'), { fields: 2 }],
      ['parts', part('a', '1') + part('f', '2', 'b') + part('c', '3'), { parts: 2 }],
    ];
    for (const [what, parts, limit] of cases) {
      const body = Buffer.from(`${parts}--${boundary}--\r\n`);
      assert.equal(await busboyParse(body, ct, { ...BIG, ...limit }), 'refused', `busboy, ${what}`);
      await assert.rejects(parseMultipart(body, ct, { ...BIG, ...limit }), (e: unknown) => e instanceof ServiceError && e.status === 413 && e.code === 'too_large', what);
      const key = Object.keys(limit)[0] as keyof MultipartLimits;
      const atLimit = { ...BIG, [key]: (limit[key] as number) + 1 };
      assert.deepEqual(await oursParse(body, ct, atLimit), await busboyParse(body, ct, atLimit), `${what}, at the limit`);
    }
  });

  test('content types: not multipart is 415, no boundary is 415', async () => {
    for (const ct of ['application/json', 'multipart/form-data', 'multipart/form-data; charset=utf-8', 'text/plain; boundary=x']) {
      await assert.rejects(parseMultipart(Buffer.from('--x--\r\n'), ct, BIG), (e: unknown) => e instanceof ServiceError && e.status === 415, ct);
    }
  });
});
