// `claimlens keys create [--data DIR] --tenant T --role platform|merchant|reviewer [--merchant M]`:
// makes an API key and prints it alone on the last line. Works whether or not the server
// runs on the data folder (through its loopback admin route when it does).

import { adminCall, findServer } from '../http/admin.ts';
import { withLocalStore } from './local-store.ts';
import { ClaimsService } from '../claims/service.ts';
import { settingsFromEnv } from '../store/index.ts';
import { parse, UsageError } from './args.ts';
import type { Command } from './main.ts';

const HELP = `Usage: claimlens keys create [--data DIR] --tenant T --role platform|merchant|reviewer [--merchant M]

Creates an API key and prints it alone on the last line (it is stored hashed: keep it now).`;

export const command: Command = {
  summary: 'create API keys',
  async run(args) {
    const [sub, ...rest] = args;
    if (sub === '--help' || sub === '-h' || sub === undefined) {
      process.stdout.write(HELP + '\n');
      return sub === undefined ? 2 : 0;
    }
    if (sub !== 'create') throw new UsageError(`unknown subcommand '${sub}' (expected: create)`);
    const { values } = parse(rest, { data: { type: 'string' }, tenant: { type: 'string' }, role: { type: 'string' }, merchant: { type: 'string' } }, false);
    const tenant = values.tenant;
    if (!tenant) throw new UsageError('--tenant is required');
    const role = values.role;
    if (role !== 'platform' && role !== 'merchant' && role !== 'reviewer') throw new UsageError('--role must be platform, merchant or reviewer');
    if (role === 'merchant' && !values.merchant) throw new UsageError('--merchant is required for a merchant key');
    if (role !== 'merchant' && values.merchant) throw new UsageError('--merchant goes with --role merchant only');
    const settings = settingsFromEnv(values.data);

    let key: { id: string; key: string };
    const server = settings.databaseUrl ? undefined : findServer(settings.dataDir);
    if (server) {
      key = await adminCall(server, 'POST', '/admin/keys', { tenant: values.tenant, role, merchant: values.merchant });
      process.stdout.write(`(through the running server, pid ${server.pid})\n`);
    } else {
      key = await withLocalStore(settings, (store) => new ClaimsService(store).createApiKey(tenant, role, values.merchant));
    }
    process.stdout.write(`created ${role} key ${key.id} for tenant ${values.tenant}${values.merchant ? `, merchant ${values.merchant}` : ''}\n${key.key}\n`);
    return 0;
  },
};
