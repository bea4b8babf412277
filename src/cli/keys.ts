// `claimlens keys create [--data DIR] --tenant T --role platform|merchant|reviewer [--merchant M]`:
// makes an API key and prints it alone on the last line. `keys list [--data DIR] [--tenant T]`
// and `keys revoke [--data DIR] KEY_ID`. All work whether or not the server runs on the data
// folder (through its loopback admin route when it does).

import { adminCall, type RunningServer } from '../http/admin.ts';
import { dataSettings, onDataFolder } from './local-store.ts';
import { ClaimsService } from '../claims/service.ts';
import { parse, UsageError } from './args.ts';
import type { Command } from './main.ts';

const HELP = `Usage: claimlens keys create [--data DIR] --tenant T --role platform|merchant|reviewer [--merchant M]
       claimlens keys list [--data DIR] [--tenant T] [--json]
       claimlens keys revoke [--data DIR] KEY_ID

create  makes an API key and prints it alone on the last line (it is stored hashed: keep it now).
list    the keys (id, tenant, role, merchant, created, revoked), never their secrets.
revoke  stops a key: at once in a running server (other processes on the same PostgreSQL
        database within 30 s). Revoking a revoked key changes nothing.`;

export const command: Command = {
  summary: 'create API keys',
  async run(args) {
    const [sub, ...rest] = args;
    if (sub === '--help' || sub === '-h' || sub === undefined) {
      process.stdout.write(HELP + '\n');
      return sub === undefined ? 2 : 0;
    }
    if (sub === 'list') return list(rest);
    if (sub === 'revoke') return revoke(rest);
    if (sub !== 'create') throw new UsageError(`unknown subcommand '${sub}' (expected: create, list or revoke)`);
    const { values } = parse(rest, { data: { type: 'string' }, tenant: { type: 'string' }, role: { type: 'string' }, merchant: { type: 'string' } }, false);
    const tenant = values.tenant;
    if (!tenant) throw new UsageError('--tenant is required');
    const role = values.role;
    if (role !== 'platform' && role !== 'merchant' && role !== 'reviewer') throw new UsageError('--role must be platform, merchant or reviewer');
    if (role === 'merchant' && !values.merchant) throw new UsageError('--merchant is required for a merchant key');
    if (role !== 'merchant' && values.merchant) throw new UsageError('--merchant goes with --role merchant only');
    // The one command besides serve that may start a new data folder (a fresh install's first key).
    const key: { id: string; key: string } = await onStore(
      values.data,
      async (server) => {
        const k = await adminCall(server, 'POST', '/admin/keys', { tenant: values.tenant, role, merchant: values.merchant });
        process.stdout.write(`(through the running server, pid ${server.pid})\n`);
        return k;
      },
      (service) => service.createApiKey(tenant, role, values.merchant),
      true,
    );
    process.stdout.write(`created ${role} key ${key.id} for tenant ${values.tenant}${values.merchant ? `, merchant ${values.merchant}` : ''}\n${key.key}\n`);
    return 0;
  },
};

/**
 * Runs `local` on the data folder, or `remote` through the running server's admin route. Only
 * `create` makes a data folder that is not there (src/cli/local-store.ts).
 */
async function onStore<T>(data: string | undefined, remote: (server: RunningServer) => Promise<T>, local: (service: ClaimsService) => Promise<T>, create = false): Promise<T> {
  return onDataFolder(dataSettings(data), remote, (store) => local(new ClaimsService(store)), { create });
}

async function list(args: string[]): Promise<number> {
  const { values } = parse(args, { data: { type: 'string' }, tenant: { type: 'string' }, json: { type: 'boolean' } }, false);
  const r = (await onStore(
    values.data,
    (server) => adminCall(server, 'GET', `/admin/keys${values.tenant ? `?tenant=${encodeURIComponent(values.tenant)}` : ''}`),
    (service) => service.listApiKeys({ admin: true, tenantId: values.tenant }),
  )) as { items: Array<{ id: string; tenantId: string; role: string; merchantId: string | null; createdAt: string; revokedAt: string | null }> };
  if (values.json) {
    process.stdout.write(JSON.stringify(r) + '\n');
    return 0;
  }
  for (const k of r.items) {
    process.stdout.write(`${k.id}\t${k.tenantId}\t${k.role}${k.merchantId ? `:${k.merchantId}` : ''}\tcreated ${k.createdAt}\t${k.revokedAt ? `revoked ${k.revokedAt}` : 'active'}\n`);
  }
  return 0;
}

async function revoke(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { data: { type: 'string' } }, true);
  if (positionals.length !== 1) throw new UsageError('give exactly one KEY_ID (see `claimlens keys list`)');
  const id = positionals[0]!;
  const r = await onStore(
    values.data,
    (server) => adminCall(server, 'POST', `/admin/keys/${encodeURIComponent(id)}/revoke`),
    (service) => service.revokeApiKey({ admin: true }, id),
  );
  process.stdout.write(r.alreadyRevoked ? `key ${r.id} was already revoked (${r.revokedAt})\n` : `revoked key ${r.id} at ${r.revokedAt}\n`);
  return 0;
}
