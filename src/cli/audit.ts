// `claimlens audit verify [--data DIR] [--json]`: walks the audit chain and exits 0 only
// when it is intact (1 when an entry was altered or deleted).

import { verifyAudit, type AuditVerification } from '../claims/audit.ts';
import { adminCall, findServer } from '../http/admin.ts';
import { withLocalStore } from './local-store.ts';
import { settingsFromEnv } from '../store/index.ts';
import { parse, UsageError } from './args.ts';
import type { Command } from './main.ts';

const HELP = `Usage: claimlens audit verify [--data DIR] [--json]

Checks the hash chain of the audit log. Exit code 0 when intact, 1 when any entry was
altered or deleted.`;

export const command: Command = {
  summary: 'verify the audit log hash chain',
  async run(args) {
    const [sub, ...rest] = args;
    if (sub === '--help' || sub === '-h' || sub === undefined) {
      process.stdout.write(HELP + '\n');
      return sub === undefined ? 2 : 0;
    }
    if (sub !== 'verify') throw new UsageError(`unknown subcommand '${sub}' (expected: verify)`);
    const { values } = parse(rest, { data: { type: 'string' }, json: { type: 'boolean' } }, false);
    const settings = settingsFromEnv(values.data);
    let v: AuditVerification;
    const server = settings.databaseUrl ? undefined : findServer(settings.dataDir);
    if (server) {
      v = await adminCall(server, 'GET', '/admin/audit/verify');
    } else {
      v = await withLocalStore(settings, (store) => verifyAudit(store.db));
    }
    if (values.json) process.stdout.write(JSON.stringify(v, null, 2) + '\n');
    else if (v.ok) process.stdout.write(`audit chain intact: ${v.entries} entries\n`);
    else {
      process.stdout.write(`audit chain BROKEN: ${v.problems.length} problem(s) in ${v.entries} entries\n`);
      for (const p of v.problems) process.stdout.write(`  entry ${p.seq}: ${p.problem}: ${p.message}\n`);
    }
    return v.ok ? 0 : 1;
  },
};
