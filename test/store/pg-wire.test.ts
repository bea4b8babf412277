// The PGlite client's own wire-protocol encoder and decoder (src/store/pg-wire.ts), checked
// against PGlite's protocol module and PGlite's own query() as oracles, on a real PGlite.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PGlite, protocol } from '@electric-sql/pglite';
import { ResponseReader, encodeSimpleQuery, encodeStatement } from '../../src/store/pg-wire.ts';
import { openPglite } from '../../src/store/pglite.ts';
import { DatabaseError, type SqlClient } from '../../src/store/sql.ts';

const { serialize } = protocol;

describe('pg-wire encoding', () => {
  test('a statement is the same bytes as PGlite’s serializer writes (text, bytes, NULL, non-ASCII)', () => {
    const text = 'SELECT $1::text, $2::bytea, $3::int, $4::text -- 退款';
    const values = ['仅退款 ✓ 🧾', new Uint8Array([0, 1, 255, 0]), null, ''];
    const theirs = Buffer.concat([
      serialize.parse({ text }),
      serialize.bind({ values }),
      serialize.describe({ type: 'P' }),
      serialize.execute({}),
      serialize.sync(),
    ]);
    assert.deepEqual(encodeStatement(text, values, false), theirs);
    const begin = Buffer.concat([serialize.parse({ text: 'BEGIN' }), serialize.bind({}), serialize.execute({})]);
    assert.deepEqual(encodeStatement(text, values, true), Buffer.concat([begin, theirs]));
    assert.deepEqual(encodeStatement('SELECT 1', [], false), Buffer.concat([serialize.parse({ text: 'SELECT 1' }), serialize.bind({}), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync()]));
    assert.deepEqual(encodeSimpleQuery('COMMIT'), Buffer.from(serialize.query('COMMIT')));
  });

  test('more parameters than the protocol can carry is a clear error', () => {
    assert.throws(() => encodeStatement('SELECT 1', new Array(65536).fill('x'), false), RangeError);
  });
});

describe('pg-wire decoding', () => {
  /** A backend message: type byte, length, body. */
  const msg = (type: string, body: Buffer) => {
    const head = Buffer.alloc(5);
    head[0] = type.charCodeAt(0);
    head.writeInt32BE(body.length + 4, 1);
    return Buffer.concat([head, body]);
  };
  const cstr = (s: string) => Buffer.concat([Buffer.from(s), Buffer.from([0])]);
  const int16 = (n: number) => { const b = Buffer.alloc(2); b.writeInt16BE(n); return b; };
  const int32 = (n: number) => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };
  const rowDescription = (fields: [string, number][]) => msg('T', Buffer.concat([int16(fields.length), ...fields.map(([n, oid]) => Buffer.concat([cstr(n), int32(0), int16(0), int32(oid), int16(-1), int32(-1), int16(0)]))]));
  const dataRow = (values: (string | null)[]) => msg('D', Buffer.concat([int16(values.length), ...values.map((v) => (v === null ? int32(-1) : Buffer.concat([int32(Buffer.byteLength(v)), Buffer.from(v)])))]));
  const answer = Buffer.concat([
    msg('1', Buffer.alloc(0)),
    msg('2', Buffer.alloc(0)),
    rowDescription([['id', 23], ['name', 25], ['__proto__', 25], ['gone', 25]]),
    dataRow(['7', '退款', 'p', null]),
    dataRow(['8', 'b', 'q', 'x']),
    msg('N', Buffer.concat([cstr('SNOTICE'), cstr('Mjust a notice'), Buffer.from([0])])),
    msg('C', cstr('SELECT 2')),
    msg('Z', Buffer.from('I')),
  ]);

  test('rows, types, NULL and a column named __proto__; the same in any split of the output', () => {
    const expected = { commands: ['SELECT 2'], rows: [{ id: 7, name: '退款', gone: null }, { id: 8, name: 'b', gone: 'x' }] };
    for (const cut of [1, 2, 7, 40, answer.length - 1]) {
      const r = new ResponseReader();
      r.push(answer.subarray(0, cut));
      r.push(answer.subarray(cut));
      const got = r.finish({});
      assert.deepEqual(got.commands, expected.commands);
      assert.equal(got.rows.length, 2);
      for (let i = 0; i < 2; i++) {
        const row = got.rows[i]!;
        assert.equal(Object.getPrototypeOf(row), Object.prototype, 'the prototype is untouched');
        assert.equal(Object.getOwnPropertyDescriptor(row, '__proto__')?.value, i === 0 ? 'p' : 'q');
        assert.deepEqual({ id: row.id, name: row.name, gone: row.gone }, expected.rows[i]);
      }
    }
  });

  test('the first ErrorResponse is thrown with its fields; a truncated answer is an error, not rows', () => {
    const error = msg('E', Buffer.concat([cstr('SERROR'), cstr('C23505'), cstr('Mduplicate key value'), cstr('Dthe detail'), cstr('ncl_pkey'), cstr('tclaims'), cstr('Xunknown field'), Buffer.from([0])]));
    const second = msg('E', Buffer.concat([cstr('C42601'), cstr('Mnot me'), Buffer.from([0])]));
    const r = new ResponseReader();
    r.push(Buffer.concat([msg('1', Buffer.alloc(0)), error, second, msg('Z', Buffer.from('I'))]));
    assert.throws(() => r.finish({}), (e: unknown) => e instanceof DatabaseError && e.message === 'duplicate key value' && e.code === '23505' && e.detail === 'the detail' && e.constraint === 'cl_pkey' && e.table === 'claims' && e.severity === 'ERROR');
    // The reader starts afresh after a failure.
    r.push(answer);
    assert.equal(r.finish({}).rows.length, 2);
    for (const cut of [3, 6, answer.length - 2]) {
      r.push(answer.subarray(0, cut));
      assert.throws(() => r.finish({}), /truncated/);
    }
  });
});

describe('pg-wire against PGlite’s own query()', () => {
  let ours: SqlClient;
  let theirs: PGlite;
  before(async () => {
    ours = await openPglite(undefined);
    theirs = await PGlite.create();
    theirs.parsers[1700] = (v: string) => Number(v); // as openPglite sets it
  });
  after(async () => {
    await ours.close();
    await theirs.close();
  });

  test('the same rows for every type the service stores', async () => {
    const at = new Date('2026-12-05T08:30:00.123Z');
    const cases: [string, unknown[]][] = [
      ['SELECT $1::text AS t, $2::text AS n, $3::text AS empty, length($1::text) AS len', ['仅退款 🧾 "quoted" \\ back', null, '']],
      ['SELECT $1::bytea AS b, octet_length($1::bytea) AS n', [new Uint8Array([0, 1, 2, 255, 0])]],
      ['SELECT $1::int AS i, $2::bigint AS big, $3::numeric AS amount, $4::float8 AS f, $5::boolean AS ok', [42, '9007199254740993', '1234.50', 0.1, true]],
      ['SELECT $1::timestamptz AS at, $1::timestamptz + interval \'1 day\' AS later', [at]],
      ['SELECT $1::jsonb AS j, $2::json AS k', [JSON.stringify({ a: [1, '退'], b: null }), '{"z":1}']],
      ['SELECT $1::text[] AS arr, ARRAY[1,2,3] AS ints', [['a', 'b,c', '退款', null]]],
      ['SELECT g AS n, repeat(\'x\', g) AS s FROM generate_series(1, 200) g', []],
      ['SELECT 1 AS a WHERE false', []],
    ];
    for (const [text, params] of cases) {
      const mine = (await ours.query(text, params)).rows;
      const ref = (await theirs.query(text, params)).rows;
      assert.deepEqual(mine, ref, text);
    }
  });

  test('an answer larger than the reader’s buffer, in many pieces', async () => {
    const big = (await ours.query<{ s: string; n: number }>("SELECT repeat('退', 3000000) AS s, 3000000 AS n")).rows[0]!;
    assert.equal(big.s.length, 3_000_000);
    assert.ok(big.s === '退'.repeat(3_000_000));
    const many = (await ours.query<{ g: number }>('SELECT g FROM generate_series(1, 50000) g')).rows;
    assert.equal(many.length, 50_000);
    assert.equal(many[49_999]!.g, 50_000);
    // And the next small answer is right too (the reader's buffer was reset).
    assert.deepEqual((await ours.query('SELECT $1::text AS v', ['after'])).rows, [{ v: 'after' }]);
  });

  test('PostgreSQL errors arrive as DatabaseError with their fields', async () => {
    await ours.exec('CREATE TABLE wire_t (id int PRIMARY KEY, v text CONSTRAINT v_short CHECK (length(v) < 5))');
    await ours.query('INSERT INTO wire_t VALUES (1, $1)', ['a']);
    await assert.rejects(ours.query('INSERT INTO wire_t VALUES (1, $1)', ['b']), (e: unknown) =>
      e instanceof DatabaseError && e.code === '23505' && e.constraint === 'wire_t_pkey' && e.table === 'wire_t' && /already exists/.test(e.detail ?? ''));
    await assert.rejects(ours.query('INSERT INTO wire_t VALUES (2, $1)', ['toolong']), (e: unknown) => e instanceof DatabaseError && e.code === '23514' && e.constraint === 'v_short');
    await assert.rejects(ours.query('SELEC 1'), (e: unknown) => e instanceof DatabaseError && e.code === '42601' && e.position === '1');
    assert.deepEqual((await ours.query('SELECT count(*)::int AS n FROM wire_t')).rows, [{ n: 1 }]);
  });
});
