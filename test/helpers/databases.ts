// The two databases a storage test runs on: PGlite in memory, and the PostgreSQL server on this
// machine in a schema of the test file's own. Every client opened through `backends` is closed,
// and the schema dropped, after the file's tests.

import { after } from 'node:test';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openPglite } from '../../src/store/pglite.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import type { SqlClient } from '../../src/store/sql.ts';
import { PG_URL } from '../http/helpers.ts';

/** [name, open] pairs; call at the top level of a test file (it registers the clean-up). */
export function testDatabases(prefix: string): [string, () => Promise<SqlClient>][] {
  const schema = `t_${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`;
  const opened: SqlClient[] = [];
  const track = async (c: Promise<SqlClient>) => {
    const client = await c;
    opened.push(client);
    return client;
  };
  after(async () => {
    for (const c of opened) await c.close();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  });
  return [
    ['pglite', () => track(openPglite(undefined))],
    ['postgres', () => track(openPostgres({ url: PG_URL, schema }))],
  ];
}
