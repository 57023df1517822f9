import type { Command } from 'commander';
import type {
  CofferClient,
  CreateDatabaseBody,
  DatabaseRef,
  DatabaseRoleRef,
  IssuedCredentialView,
  PatchDatabaseBody,
} from '../sdk/index.ts';
import { durationSeconds } from './cli-duration.ts';
import { collectRepeated } from './cli-input.ts';
import { CliError, note, outputFormat, printList, printResource, printResult } from './cli-output.ts';
import { cofferClient } from './cli-context.ts';
import { collect, positiveInteger, resolveInstance } from './cli-resolve.ts';
import { registerPolicyCommands } from './policy-commands.ts';

/** A database connection of the context's instance. */
export async function resolveDatabase(
  command: Command,
  client: CofferClient,
  name: string,
): Promise<DatabaseRef> {
  return { ...(await resolveInstance(command, client)), database: name };
}

/** `DATABASE ROLE`, or one `DATABASE/ROLE` argument, as the two names. */
export function databaseAndRole(
  first: string,
  second: string | undefined,
): { database: string; role: string } {
  if (second !== undefined) return { database: first, role: second };
  const at = first.indexOf('/');
  if (at <= 0 || at === first.length - 1 || first.indexOf('/', at + 1) !== -1)
    throw new CliError(`give the database and the role, as DATABASE ROLE or DATABASE/ROLE, not "${first}"`);
  return { database: first.slice(0, at), role: first.slice(at + 1) };
}

/** A role of a database connection of the context's instance. */
async function resolveRole(
  command: Command,
  client: CofferClient,
  first: string,
  second: string | undefined,
): Promise<DatabaseRoleRef> {
  const { database, role } = databaseAndRole(first, second);
  return { ...(await resolveDatabase(command, client, database)), role };
}

interface ConnectionFlags {
  host?: string;
  port?: string;
  database?: string;
  adminSecret?: string;
  sslmode?: string;
  maxOpenConnections?: string;
}

const sslModes = ['disable', 'require', 'verify-full'] as const;

/** The connection fields the flags give (for create and update alike). */
function connectionFields(flags: ConnectionFlags): PatchDatabaseBody {
  const sslmode = flags.sslmode as (typeof sslModes)[number] | undefined;
  if (sslmode !== undefined && !sslModes.includes(sslmode))
    throw new CliError(`--sslmode takes ${sslModes.join(', ')}, not "${sslmode}"`);
  return {
    ...(flags.host !== undefined ? { host: flags.host } : {}),
    ...(flags.port !== undefined ? { port: positiveInteger(flags.port, '--port') } : {}),
    ...(flags.database !== undefined ? { database: flags.database } : {}),
    ...(flags.adminSecret !== undefined ? { adminSecret: flags.adminSecret } : {}),
    ...(sslmode !== undefined ? { sslmode } : {}),
    ...(flags.maxOpenConnections !== undefined
      ? { maxOpenConnections: positiveInteger(flags.maxOpenConnections, '--max-open-connections') }
      : {}),
  };
}

function connectionOptions(command: Command): Command {
  return command
    .option('--host <host>', 'PostgreSQL host')
    .option('--port <port>', 'PostgreSQL port (default 5432)')
    .option('--database <name>', 'the database to connect to')
    .option('--admin-secret <ref>', 'the secret holding the admin login (path in the instance, or full name)')
    .option('--sslmode <mode>', 'disable, require or verify-full')
    .option('--max-open-connections <n>', 'admin connections this node opens at most (1-100, default 4)');
}

interface RoleFlags {
  creationStatement?: string[];
  revocationStatement?: string[];
  defaultTtl?: string;
  maxTtl?: string;
  renewable: boolean;
}

/** What `db issue` prints for people: the login, then the lease (stdout only: it holds the password). */
export function issuedText(issued: IssuedCredentialView): string {
  return [
    `username: ${issued.username}`,
    `password: ${issued.password}`,
    `lease: ${issued.lease.id}`,
    `ttl: ${issued.lease.ttl}s (expires ${issued.lease.expireTime})`,
    `renewable: ${issued.lease.renewable}`,
  ].join('\n');
}

/** `coffer db …`: database connections, their roles, and issuing credentials. */
export function registerDbCommands(program: Command): void {
  const db = program
    .command('db')
    .description(
      'dynamic PostgreSQL credentials: database connections, roles, issue (in the instance of the context)',
    );

  connectionOptions(db.command('create'))
    .description('add a database connection (the admin login stays in a secret)')
    .argument('<name>', 'connection name (a-z, 0-9, -)')
    .action(async (name: string, flags: ConnectionFlags, command: Command) => {
      if (!flags.host || !flags.database || !flags.adminSecret)
        throw new CliError('db create needs --host, --database and --admin-secret');
      const client = cofferClient(command);
      const body = { name, ...connectionFields(flags) } as CreateDatabaseBody;
      const created = await client.databases.createDatabase(await resolveInstance(command, client), body);
      printResult(command, created, () => `Created database connection [${name}].`);
    });

  db.command('list')
    .description('list database connections')
    .option('--limit <n>', 'at most this many')
    .action(async (flags: { limit?: string }, command: Command) => {
      const client = cofferClient(command);
      const instance = await resolveInstance(command, client);
      const items = await collect(
        (pageToken) => client.databases.listDatabases(instance, pageToken ? { pageToken } : {}),
        flags.limit === undefined ? undefined : positiveInteger(flags.limit, '--limit'),
      );
      printList(command, items, [
        ['name', (d) => d.id],
        ['host', (d) => d.host],
        ['port', (d) => d.port],
        ['database', (d) => d.database],
        ['admin secret', (d) => d.adminSecret],
      ]);
    });

  db.command('get')
    .alias('describe')
    .description('show a database connection')
    .argument('<name>', 'connection name')
    .action(async (name: string, _flags: unknown, command: Command) => {
      const client = cofferClient(command);
      printResource(
        command,
        await client.databases.getDatabase(await resolveDatabase(command, client, name)),
      );
    });

  connectionOptions(db.command('update'))
    .description('change a database connection')
    .argument('<name>', 'connection name')
    .action(async (name: string, flags: ConnectionFlags, command: Command) => {
      const body = connectionFields(flags);
      if (Object.keys(body).length === 0) throw new CliError('nothing to update: give at least one flag');
      const client = cofferClient(command);
      const updated = await client.databases.patchDatabase(
        await resolveDatabase(command, client, name),
        body,
      );
      printResult(command, updated, () => `Updated database connection [${name}].`);
    });

  db.command('delete')
    .description('delete a database connection (refused while it has unrevoked leases)')
    .argument('<name>', 'connection name')
    .action(async (name: string, _flags: unknown, command: Command) => {
      const client = cofferClient(command);
      await client.databases.deleteDatabase(await resolveDatabase(command, client, name));
      printResult(command, { name, deleted: true }, () => `Deleted database connection [${name}].`);
    });

  const role = db.command('role').description('roles of a database connection: what issued logins get');

  role
    .command('put')
    .description('create or replace a role ({{name}}, {{password}}, {{expiration}} in statements)')
    .argument('<database>', 'connection name (or DATABASE/ROLE)')
    .argument('[role]', 'role name')
    .option('--creation-statement <sql>', 'SQL run to create a login (repeatable, in order)', collectRepeated)
    .option(
      '--revocation-statement <sql>',
      'SQL run to drop it (repeatable; default: end its sessions, reassign and drop what it owns, drop it)',
      collectRepeated,
    )
    .option('--default-ttl <duration>', 'lease TTL when issue gives none, e.g. 1h')
    .option('--max-ttl <duration>', 'no lease lives longer than this from its issue, e.g. 24h')
    .option('--no-renewable', 'leases of this role cannot be renewed')
    .action(async (first: string, second: string | undefined, flags: RoleFlags, command: Command) => {
      if (!flags.creationStatement?.length || !flags.defaultTtl || !flags.maxTtl)
        throw new CliError(
          'db role put needs --creation-statement (one or more), --default-ttl and --max-ttl',
        );
      const client = cofferClient(command);
      const ref = await resolveRole(command, client, first, second);
      const saved = await client.databases.putRole(ref, {
        creationStatements: flags.creationStatement,
        ...(flags.revocationStatement?.length ? { revocationStatements: flags.revocationStatement } : {}),
        defaultTtl: durationSeconds(flags.defaultTtl, '--default-ttl'),
        maxTtl: durationSeconds(flags.maxTtl, '--max-ttl'),
        ...(flags.renewable ? {} : { renewable: false }),
      });
      printResult(command, saved, () => `Saved role [${ref.role}] of database connection [${ref.database}].`);
    });

  role
    .command('get')
    .alias('describe')
    .description('show a role')
    .argument('<database>', 'connection name (or DATABASE/ROLE)')
    .argument('[role]', 'role name')
    .action(async (first: string, second: string | undefined, _flags: unknown, command: Command) => {
      const client = cofferClient(command);
      printResource(
        command,
        await client.databases.getRole(await resolveRole(command, client, first, second)),
      );
    });

  role
    .command('list')
    .description('list the roles of a database connection')
    .argument('<database>', 'connection name')
    .action(async (database: string, _flags: unknown, command: Command) => {
      const client = cofferClient(command);
      const ref = await resolveDatabase(command, client, database);
      const items = await collect((pageToken) =>
        client.databases.listRoles(ref, pageToken ? { pageToken } : {}),
      );
      printList(command, items, [
        ['name', (r) => r.id],
        ['default ttl', (r) => r.defaultTtl],
        ['max ttl', (r) => r.maxTtl],
        ['renewable', (r) => r.renewable],
      ]);
    });

  role
    .command('delete')
    .description('delete a role (refused while it has unrevoked leases)')
    .argument('<database>', 'connection name (or DATABASE/ROLE)')
    .argument('[role]', 'role name')
    .action(async (first: string, second: string | undefined, _flags: unknown, command: Command) => {
      const client = cofferClient(command);
      const ref = await resolveRole(command, client, first, second);
      await client.databases.deleteRole(ref);
      printResult(command, { name: ref.role, deleted: true }, () => `Deleted role [${ref.role}].`);
    });

  registerPolicyCommands(db, '<name>', 'a database connection', (command, client, name) =>
    resolveDatabase(command, client, name),
  );
  // `roles/secretsmanager.databaseCredentialUser` bound here lets a member issue logins of this role only.
  registerPolicyCommands(role, '<database/role>', 'a database role', (command, client, spec) =>
    resolveRole(command, client, spec, undefined),
  );

  db.command('issue')
    .description('issue a PostgreSQL login of a role, with a lease (the password is shown once, on stdout)')
    .argument('<database>', 'connection name (or DATABASE/ROLE)')
    .argument('[role]', 'role name')
    .option('--ttl <duration>', "the lease's TTL (default: the role's), e.g. 1h")
    .option('--json', 'print the whole answer as JSON (same as --format json)')
    .action(
      async (
        first: string,
        second: string | undefined,
        flags: { ttl?: string; json?: boolean },
        command: Command,
      ) => {
        const ttl = flags.ttl === undefined ? undefined : durationSeconds(flags.ttl, '--ttl');
        const client = cofferClient(command);
        const ref = await resolveRole(command, client, first, second);
        const issued = await client.databases.issue(ref, ttl === undefined ? {} : { ttl });
        if (flags.json || outputFormat(command) === 'json')
          process.stdout.write(`${JSON.stringify(issued, null, 2)}\n`);
        else printResult(command, issued, () => issuedText(issued));
        note(`Revoke it early with "coffer leases revoke ${issued.lease.id}".`);
      },
    );
}
