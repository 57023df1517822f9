/**
 * AWS test mode (docs/aws.md), for suites written against the AWS emulators: with
 * `aws.test.enabled` (COFFER_AWS_TEST_MODE=true; refused off loopback at start) the static key pair
 * `aws.test.accessKeyId/secretAccessKey` signs as the service account `aws-test` of the project whose
 * awsAccountId is `aws.test.accountId` (created on first use, owner of that project), and
 * `POST /moto-api/reset` wipes all state. Never available otherwise.
 */
import type { App } from '../app/app.ts';
import { backupTables } from '../backup/backup-tables.ts';
import { CofferError } from '../core/errors.ts';
import { newTimeOrderedUuid } from '../core/ids.ts';
import type { AwsIdentity } from '../iam/access-key-service.ts';
import { initialAdminPrincipal, type Principal } from '../iam/principal.ts';
import { rootResource } from '../iam/resource-names.ts';
import type { Database } from '../storage/schema.ts';
import { stmt, type WriteStatement } from '../storage/storage-types.ts';

/** The test project's service account (its name). */
const testAccountName = 'aws-test';

/**
 * Tables a reset keeps whole: what keeps the node initialized and unsealed (the migration record,
 * locks, the seal record and audit signing key in `system`), the tamper-evident audit trail (a
 * wipe would break its chain; the reset itself is recorded in it), and the change feed's log and
 * counter (cursors never move back). The root policy and the first admin's tokens are kept from
 * their tables; every other row of every table a backup carries is deleted.
 */
const keptTables = new Set([
  'system',
  'audit_events',
  // The audit records' query keys (migration 0020, when present): the verifier checks them with the events.
  'audit_terms',
  'audit_checkpoints',
  'audit_chains',
  'audit_outbox',
  'audit_sink_cursors',
  'change_log',
  'change_feed_counter',
]);

/** The test mode of one node. */
export class AwsTestMode {
  readonly #app: App;
  #identity: Promise<AwsIdentity> | undefined;
  /** Whether the test account is enabled, kept until the token cache drops (a disable, the feed moving). */
  #enabled: Promise<boolean> | undefined;
  /** The answer of `identity()` once both are settled, until an invalidation or a reset. */
  #known: AwsIdentity | null | undefined;
  #generation = 0;

  constructor(app: App) {
    this.#app = app;
    app.tokens.onInvalidate(() => {
      this.#generation++;
      this.#enabled = undefined;
      this.#known = undefined;
    });
  }

  /** The static key's identity (or null) when known without waiting; undefined: ask `identity()`. */
  identityCached(): AwsIdentity | null | undefined {
    return this.#known;
  }

  /** Whether `accessKeyId` is the static test key (always false with test mode off). */
  matches(accessKeyId: string): boolean {
    const test = this.#app.config.aws.test;
    return test.enabled && accessKeyId === test.accessKeyId;
  }

  /**
   * The static key's identity; the test project, its service account and binding made on first use.
   * Null while the service account is disabled (the static key is refused like any key of a
   * disabled account).
   */
  async identity(): Promise<AwsIdentity | null> {
    const pending = (this.#identity ??= this.#ensure());
    pending.catch(() => {
      if (this.#identity === pending) this.#identity = undefined;
    });
    const identity = await pending;
    const generation = this.#generation;
    let enabled = this.#enabled;
    if (enabled === undefined) {
      enabled = this.#accountEnabled(identity);
      // A check that straddled an invalidation decides this request only.
      if (generation === this.#generation) this.#enabled = enabled;
      enabled.catch(() => {
        if (this.#enabled === enabled) this.#enabled = undefined;
      });
    }
    const answer = (await enabled) ? identity : null;
    if (generation === this.#generation && this.#identity === pending) this.#known = answer;
    return answer;
  }

  async #accountEnabled(identity: AwsIdentity): Promise<boolean> {
    const email = identity.principal.slice(identity.principal.indexOf(':') + 1);
    try {
      return !(await this.#app.iam.getServiceAccount(identity.projectId, email)).disabled;
    } catch (err) {
      if (err instanceof CofferError && err.code === 'not_found') return false;
      throw err;
    }
  }

  /** Wipes all state but what the node needs to stay initialized and unsealed (see `keptTables`). */
  async reset(sourceIp: string, requestId: string): Promise<void> {
    const app = this.#app;
    if (app.barrier.sealed) throw new CofferError('sealed', 'Coffer is sealed.');
    const db = app.storage.db;
    const statements: WriteStatement[] = [];
    // Children before parents: the reverse of the restore order.
    for (const { name } of [...backupTables].reverse()) {
      if (keptTables.has(name)) continue;
      const table = name as keyof Database;
      if (table === 'iam_policies')
        statements.push(stmt(db.deleteFrom('iam_policies').where('resource', '<>', rootResource)));
      else if (table === 'tokens')
        statements.push(stmt(db.deleteFrom('tokens').where('principal', '<>', initialAdminPrincipal)));
      else statements.push(stmt(db.deleteFrom(table)));
    }
    await app.storage.write(statements);
    this.#identity = undefined;
    this.#known = undefined;
    app.cacheInvalidation.invalidate('all');
    app.tokens.invalidate();
    app.authorizer.invalidate();
    app.projects.invalidate();
    const nowMs = app.clock.nowMs();
    await app.audit.append([
      {
        id: newTimeOrderedUuid(nowMs),
        timeMs: nowMs,
        requestId,
        action: 'aws.test.reset',
        principal: 'anonymous',
        resource: rootResource,
        result: 'ok',
        status: 200,
        sourceIp,
        details: { api: 'aws' },
      },
    ]);
  }

  async #ensure(): Promise<AwsIdentity> {
    const app = this.#app;
    const { accessKeyId, secretAccessKey, accountId } = app.config.aws.test;
    let project = await app.projects.findByAwsAccountId(accountId);
    if (!project) {
      try {
        project = await app.projects.create({ displayName: 'AWS test mode', awsAccountId: accountId });
      } catch (err) {
        // Another request made it first.
        if (!(err instanceof CofferError && err.code === 'already_exists')) throw err;
        project = await app.projects.findByAwsAccountId(accountId);
        if (!project) throw err;
      }
    }
    const email = `${testAccountName}@${project.id}.iam.coffer.internal`;
    try {
      await app.iam.getServiceAccount(project.id, email);
    } catch (err) {
      if (!(err instanceof CofferError && err.code === 'not_found')) throw err;
      try {
        await app.iam.createServiceAccount(project.id, testAccountName, undefined, 'AWS test mode');
      } catch (created) {
        if (!(created instanceof CofferError && created.code === 'already_exists')) throw created;
      }
    }
    const principal = `serviceAccount:${email}` as Principal;
    // Granted as the first admin (owner at the root): test mode is the server's own setup.
    await app.iam.addBinding(
      `projects/${project.id}`,
      'roles/owner',
      principal,
      undefined,
      initialAdminPrincipal,
    );
    return { accessKeyId, principal, projectId: project.id, secretAccessKey };
  }
}
