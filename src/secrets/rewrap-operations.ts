import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Clock } from '../core/clock.ts';
import { CofferError, errors } from '../core/errors.ts';
import { isUuid, newTimeOrderedUuid } from '../core/ids.ts';
import type { KmsService } from '../kms/kms-service.ts';
import { keyResourceName } from '../kms/kms-types.ts';
import { type Storage, stmt, WriteRejected } from '../storage/storage-types.ts';
import type { SecretsRepo } from './secrets-repo.ts';
import { type Operation, type SecretsLocation, serviceIdentity } from './secret-types.ts';
import type { ValueCrypto } from './value-crypto.ts';

const leaseMs = 5_000;
const batch = 50;

/** The resource name of an operation. */
export function operationName(location: SecretsLocation, id: string): string {
  return `projects/${location.projectId}/regions/${location.regionId}/operations/${id}`;
}

/**
 * Rewrap operations started by an instance key switch: claimed by lease (compare-and-set), advanced
 * in batches whose rewrapped keys and progress commit together, stopped when another switch
 * supersedes them, and resumed by any node once a dead node's lease expires.
 */
export class RewrapOperations {
  readonly #storage: Storage;
  readonly #repo: SecretsRepo;
  readonly #kms: KmsService;
  readonly #crypto: ValueCrypto;
  readonly #audit: AuditLog;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #requireLocation: (location: SecretsLocation) => Promise<void>;

  constructor(deps: {
    storage: Storage;
    repo: SecretsRepo;
    kms: KmsService;
    crypto: ValueCrypto;
    audit: AuditLog;
    clock: Clock;
    logger: Logger;
    requireLocation: (location: SecretsLocation) => Promise<void>;
  }) {
    this.#storage = deps.storage;
    this.#repo = deps.repo;
    this.#kms = deps.kms;
    this.#crypto = deps.crypto;
    this.#audit = deps.audit;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#requireLocation = deps.requireLocation;
  }

  /** A long-running operation. */
  async get(location: SecretsLocation, id: string): Promise<Operation> {
    await this.#requireLocation(location);
    const row = isUuid(id)
      ? await this.#storage.db
          .selectFrom('sm_operations')
          .selectAll()
          .where('id', '=', id)
          .where('project_id', '=', location.projectId)
          .where('region_id', '=', location.regionId)
          .executeTakeFirst()
      : undefined;
    if (!row) throw errors.notFound(`Operation ${id}`);
    const failed = row.state === 'failed';
    return {
      id: row.id,
      name: operationName(location, row.id),
      done: row.state !== 'running',
      state: row.state,
      ...(failed && row.error ? { error: row.error } : {}),
      progress: { total: Number(row.total), done: Number(row.done) },
    };
  }

  /**
   * Advances every running rewrap whose lease is free: claims it (compare-and-set on the lease),
   * then rewraps in batches, each batch and its progress committed together, so a crash loses
   * nothing and another node (or this one after a restart) resumes once the lease expires.
   */
  async run(): Promise<void> {
    const now = this.#clock.nowMs();
    const due = await this.#storage.db
      .selectFrom('sm_operations')
      .selectAll()
      .where('state', '=', 'running')
      .where('lease_until', '<', now)
      .limit(10)
      .execute();
    for (const op of due) {
      try {
        await this.#storage.write([
          stmt(
            this.#storage.db
              .updateTable('sm_operations')
              .set({ lease_until: now + leaseMs })
              .where('id', '=', op.id)
              .where('lease_until', '=', op.lease_until),
            'one',
          ),
        ]);
      } catch (err) {
        if (err instanceof WriteRejected) continue; // another node claimed it
        throw err;
      }
      await this.#runRewrap(
        op.id,
        op.project_id,
        op.region_id,
        op.instance_id,
        op.target_key_uid,
        op.target_key_version,
        op.error ?? '',
      );
    }
  }

  async #runRewrap(
    opId: string,
    projectId: string,
    regionId: string,
    instanceId: string,
    targetKeyUid: string | null,
    targetVersion: number | null,
    startedBy: string,
  ): Promise<void> {
    const db = this.#storage.db;
    const instance = await this.#repo.findInstance({ projectId, regionId }, instanceId);
    const finish = (state: 'done' | 'failed' | 'superseded', error?: string) =>
      this.#storage.write([
        stmt(
          db
            .updateTable('sm_operations')
            .set({ state, error: error ?? null, update_time: this.#clock.nowMs() })
            .where('id', '=', opId),
        ),
      ]);
    if (!instance || instance.kmsKeyUid !== targetKeyUid) {
      // The instance moved on (another switch started its own operation), or is gone.
      await finish('superseded');
      return;
    }
    const target = targetKeyUid ? await this.#kms.findKeyByUid(targetKeyUid) : undefined;
    const onBehalfOf = startedBy.replace(/^started by /, '');
    const remaining = await this.#repo.countToRewrap(instance, targetKeyUid);
    const op = await db
      .selectFrom('sm_operations')
      .select(['done'])
      .where('id', '=', opId)
      .executeTakeFirstOrThrow();
    const total = Number(op.done) + remaining;
    await this.#storage.write([stmt(db.updateTable('sm_operations').set({ total }).where('id', '=', opId))]);
    try {
      for (;;) {
        // Another switch may have superseded this one (on any node): stop rather than undo its work.
        const latest = await this.#repo.findInstance({ projectId, regionId }, instanceId);
        if (!latest || latest.kmsKeyUid !== targetKeyUid) {
          await finish('superseded');
          return;
        }
        const rows = await this.#repo.versionsToRewrap(instance, targetKeyUid, batch);
        if (rows.length === 0) break;
        const statements = [];
        const events = [];
        for (const row of rows) {
          const from = row.wrap_key_uid ? await this.#kms.findKeyByUid(row.wrap_key_uid) : undefined;
          const { dataKey } = await this.#crypto.unwrap(
            row.secret_uid,
            Number(row.version),
            Buffer.from(row.wrapped_key!),
            from,
          );
          const wrapped = await this.#crypto.wrap(row.secret_uid, Number(row.version), dataKey, {
            ...(target ? { key: target } : {}),
            ...(targetVersion !== null ? { keyVersion: targetVersion } : {}),
          });
          dataKey.fill(0);
          statements.push(
            this.#repo.rewrapVersion(
              row.secret_uid,
              Number(row.version),
              row.wrap_key_uid,
              targetKeyUid,
              wrapped,
            ),
          );
          for (const [key, action] of [
            [from, 'kms.decrypt'],
            [target, 'kms.encrypt'],
          ] as const) {
            if (!key) continue;
            const nowMs = this.#clock.nowMs();
            events.push({
              // Time-ordered, as every audit event id: appended to the end of the id index.
              id: newTimeOrderedUuid(nowMs),
              timeMs: nowMs,
              requestId: `operation-${opId}`,
              action,
              principal: instance.kmsKey?.serviceAccountEmail
                ? `serviceAccount:${instance.kmsKey.serviceAccountEmail}`
                : serviceIdentity,
              onBehalfOf,
              resource: keyResourceName(key),
              projectId: key.projectId,
              result: 'ok' as const,
              status: 200,
              details: { operation: opId },
            });
          }
        }
        await this.#audit.append(events);
        statements.push(
          stmt(
            db
              .updateTable('sm_operations')
              .set((eb) => ({
                done: eb('done', '+', rows.length),
                lease_until: this.#clock.nowMs() + leaseMs,
                update_time: this.#clock.nowMs(),
              }))
              .where('id', '=', opId),
          ),
        );
        await this.#storage.write(statements);
      }
      await finish('done');
    } catch (err) {
      this.#logger.warn({ operation: opId, err: (err as Error).message }, 'rewrap operation failed');
      await finish(
        'failed',
        err instanceof CofferError ? err.message : 'The rewrap failed; see the server log.',
      );
    }
  }
}
