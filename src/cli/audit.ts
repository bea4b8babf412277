// `claimlens audit verify [--data DIR] [--anchors FILE] [--json]`: walks the audit chain and
// exits 0 only when it is intact (1 when an entry was altered or deleted, or, with anchors,
// when an anchored entry is gone or hashes differently: the chain was rewritten).
// `claimlens audit anchor [--data DIR]`: prints the chain's head as one JSON line, to be
// appended to a log kept outside the database (cron); `verify --anchors` checks against it.

import { readFileSync } from 'node:fs';
import { auditAnchor, parseAnchors, verifyAudit, type AuditAnchor, type AuditVerification } from '../claims/audit.ts';
import { adminCall } from '../http/admin.ts';
import { dataSettings, onDataFolder } from './local-store.ts';
import { parse, UsageError } from './args.ts';
import type { Command } from './main.ts';

const HELP = `Usage: claimlens audit verify [--data DIR] [--anchors FILE] [--json]
       claimlens audit anchor [--data DIR]

verify: checks the hash chain of the audit log. Exit code 0 when intact, 1 when any entry was
altered or deleted. With --anchors, also that every anchored entry is still there with the hash
it had: whoever can write the database could rewrite the whole chain consistently, not the
anchors kept elsewhere.

anchor: prints the chain's head now as one JSON line ({"seq","hash","at"}). Append it to a log
outside the database (another machine, a write-once store) from cron; that log is FILE above.`;

export const command: Command = {
  summary: 'verify the audit log hash chain, or print its head as an anchor',
  async run(args) {
    const [sub, ...rest] = args;
    if (sub === '--help' || sub === '-h' || sub === undefined) {
      process.stdout.write(HELP + '\n');
      return sub === undefined ? 2 : 0;
    }
    if (sub !== 'verify' && sub !== 'anchor') throw new UsageError(`unknown subcommand '${sub}' (expected: verify or anchor)`);
    if (sub === 'anchor') {
      const { values } = parse(rest, { data: { type: 'string' } }, false);
      const a: AuditAnchor = await onDataFolder(
        dataSettings(values.data),
        (server) => adminCall(server, 'GET', '/admin/audit/head'),
        (store) => auditAnchor(store.db),
      );
      process.stdout.write(JSON.stringify(a) + '\n');
      return 0;
    }
    const { values } = parse(rest, { data: { type: 'string' }, json: { type: 'boolean' }, anchors: { type: 'string' } }, false);
    let anchors: AuditAnchor[] = [];
    if (values.anchors !== undefined) {
      let text: string;
      try {
        text = readFileSync(values.anchors, 'utf8');
      } catch (e) {
        throw new UsageError(`--anchors: cannot read ${values.anchors}: ${(e as Error).message}`);
      }
      try {
        anchors = parseAnchors(text);
      } catch (e) {
        throw new UsageError(`--anchors: ${(e as Error).message}`);
      }
    }
    const v: AuditVerification = await onDataFolder(
      dataSettings(values.data),
      (server) => (anchors.length ? adminCall(server, 'POST', '/admin/audit/verify', { anchors }) : adminCall(server, 'GET', '/admin/audit/verify')),
      (store) => verifyAudit(store.db, undefined, anchors),
    );
    if (values.json) process.stdout.write(JSON.stringify(v, null, 2) + '\n');
    else if (v.ok) process.stdout.write(`audit chain intact: ${v.entries} entries${anchors.length ? `; ${anchors.length} anchors match` : ''}\n`);
    else {
      process.stdout.write(`audit chain BROKEN: ${v.problems.length} problem(s) in ${v.entries} entries\n`);
      for (const p of v.problems) process.stdout.write(`  entry ${p.seq}: ${p.problem}: ${p.message}\n`);
    }
    return v.ok ? 0 : 1;
  },
};
