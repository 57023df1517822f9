import type { Command } from 'commander';
import type { AuditEventView, AuditQuery, AuditScope, CofferClient } from '../sdk/index.ts';
import { cofferClient } from './cli-context.ts';
import { CliError, printList, printResult } from './cli-output.ts';
import { positiveInteger, resolveInstance, resolveProject } from './cli-resolve.ts';

interface FilterFlags {
  action?: string;
  principal?: string;
  resource?: string;
  secret?: string;
  result?: string;
  requestId?: string;
  since?: string;
  until?: string;
  system?: boolean;
}

const units: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** An RFC 3339 time, or a duration ago (`90s`, `15m`, `2h`, `7d`). */
export function timeOrAgo(value: string, flag: string, nowMs = Date.now()): string {
  const relative = /^(\d+)([smhd])$/.exec(value);
  if (relative) return new Date(nowMs - Number(relative[1]) * units[relative[2]!]!).toISOString();
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new CliError(`${flag} takes an RFC 3339 time or a duration ago (15m, 2h, 7d)`);
  return new Date(ms).toISOString();
}

function filterOptions(command: Command): Command {
  return command
    .option('--action <action>', 'e.g. secrets.get_value')
    .option('--principal <principal>', 'e.g. serviceAccount:app@…')
    .option('--resource <prefix>', 'resource name prefix')
    .option('--secret <path>', 'events of this secret only (in the instance of the context)')
    .option('--result <result>', 'ok, denied or error')
    .option('--request-id <id>', 'events of one request')
    .option('--since <time>', 'RFC 3339 time or a duration ago (15m, 2h, 7d)')
    .option('--until <time>', 'RFC 3339 time or a duration ago')
    .option('--system', 'events that belong to no project (init, unseal, logins, root policy)');
}

/** The scope, the server-side query, and an exact-resource filter for --secret. */
async function auditQuery(
  command: Command,
  client: CofferClient,
  flags: FilterFlags,
): Promise<{ scope: AuditScope; query: AuditQuery; exactResource?: string }> {
  if (flags.result && !['ok', 'denied', 'error'].includes(flags.result))
    throw new CliError('--result takes ok, denied or error');
  if (flags.secret && flags.resource) throw new CliError('give --secret or --resource, not both');
  let resource = flags.resource;
  let exactResource: string | undefined;
  if (flags.secret) {
    const instance = await resolveInstance(command, client);
    // Resource names carry the secret path URL-encoded as one segment (SPEC §8).
    exactResource = `projects/${instance.projectId}/regions/${instance.regionId}/instances/${instance.instanceId}/secrets/${encodeURIComponent(flags.secret)}`;
    resource = exactResource;
  }
  const query: AuditQuery = {
    ...(flags.action ? { action: flags.action } : {}),
    ...(flags.principal ? { principal: flags.principal } : {}),
    ...(resource ? { resource } : {}),
    ...(flags.result ? { result: flags.result as 'ok' | 'denied' | 'error' } : {}),
    ...(flags.requestId ? { requestId: flags.requestId } : {}),
    ...(flags.since ? { since: timeOrAgo(flags.since, '--since') } : {}),
    ...(flags.until ? { until: timeOrAgo(flags.until, '--until') } : {}),
  };
  const scope: AuditScope = flags.system ? 'system' : { projectId: await resolveProject(command, client) };
  return { scope, query, ...(exactResource ? { exactResource } : {}) };
}

/** Events matching the flags, newest first, page after page, up to `limit`. */
async function* events(
  command: Command,
  client: CofferClient,
  flags: FilterFlags,
  pageSize: number,
): AsyncGenerator<AuditEventView> {
  const { scope, query, exactResource } = await auditQuery(command, client, flags);
  for await (const event of client.audit.listAllEvents(scope, { ...query, pageSize }))
    if (exactResource === undefined || event.resource === exactResource) yield event;
}

/** `coffer audit list|export|verify`. */
export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('read, export and verify the audit log');

  filterOptions(audit.command('list').description('list audit events, newest first'))
    .option('--limit <n>', 'at most this many events', '100')
    .action(async (flags: FilterFlags & { limit: string }, command: Command) => {
      const limit = positiveInteger(flags.limit, '--limit');
      const client = cofferClient(command);
      const items: AuditEventView[] = [];
      for await (const event of events(command, client, flags, Math.min(limit, 1000))) {
        items.push(event);
        if (items.length >= limit) break;
      }
      printList(command, items, [
        ['time', (e) => e.time],
        ['action', (e) => e.action],
        ['result', (e) => e.result],
        ['status', (e) => e.status],
        ['principal', (e) => (e.onBehalfOf ? `${e.principal} for ${e.onBehalfOf}` : e.principal)],
        ['resource', (e) => e.resource],
      ]);
    });

  filterOptions(
    audit.command('export').description('write every matching event to stdout as JSON lines (newest first)'),
  )
    .option('--page-size <n>', 'events per request (at most 1000)', '1000')
    .action(async (flags: FilterFlags & { pageSize: string }, command: Command) => {
      const pageSize = Math.min(positiveInteger(flags.pageSize, '--page-size'), 1000);
      const client = cofferClient(command);
      for await (const event of events(command, client, flags, pageSize)) {
        if (!process.stdout.write(`${JSON.stringify(event)}\n`))
          await new Promise((resolve) => process.stdout.once('drain', resolve));
      }
    });

  audit
    .command('verify')
    .description('verify the hash chains and signed checkpoints of the whole log; exits 1 when broken')
    .action(async (_flags: unknown, command: Command) => {
      const client = cofferClient(command);
      const result = await client.audit.verify();
      printResult(command, result, () =>
        result.valid
          ? `The audit log is intact: ${result.checked} events in ${result.chains} chains verified${result.unsigned ? ` (${result.unsigned} after the last signed checkpoint)` : ''}.`
          : `The audit log is NOT intact: ${result.reason ?? 'verification failed'}${result.firstBrokenEventId ? ` (first broken event ${result.firstBrokenEventId})` : ''}.`,
      );
      if (!result.valid) process.exitCode = 1;
    });
}
