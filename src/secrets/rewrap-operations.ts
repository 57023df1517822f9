import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Clock } from '../core/clock.ts';
import { CofferError, errors } from '../core/errors.ts';
import { isUuid, newTimeOrderedUuid } from '../core/ids.ts';
import type { Selectable, Updateable } from 'kysely';
import type { Authorizer } from '../iam/authorizer.ts';
import type { IamRepo } from '../iam/iam-repo.ts';
import type { Principal } from '../iam/principal.ts';
import type { KmsService } from '../kms/kms-service.ts';
import { type CryptoKey, keyResourceName } from '../kms/kms-types.ts';
import type { SmOperationsTable } from '../storage/schema.ts';
import { type Storage, stmt, type WriteStatement, WriteRejected } from '../storage/storage-types.ts';
import { instanceChange } from './secret-changes.ts';
import type { InstanceRepo } from './instance-repo.ts';
import type { SecretVersionRepo } from './secret-version-repo.ts';
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
 * supersedes them, and resumed by any node once a dead node's lease expires. Every write of a run is
 * a compare-and-set on the lease it holds, so a node that lost its lease (a long stall) writes
 * nothing. Before each batch, the service accounts that use the keys are re-checked: the one the
 * instance had before the switch must still exist, be enabled and hold kms.decrypt on the old key,
 * and the instance's current one kms.encrypt on the new key; otherwise the operation is `paused`
 * with an error that says why, and resumes on its own once that is fixed; so is a batch that would
 * use a KMS key while the project's kms feature gate is off.
 */
export class RewrapOperations {
  readonly #storage: Storage;
  readonly #repo: InstanceRepo;
  readonly #versionRepo: SecretVersionRepo;
  readonly #kms: KmsService;
  readonly #crypto: ValueCrypto;
  readonly #audit: AuditLog;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #authorizer: Authorizer;
  readonly #iamRepo: IamRepo;
  readonly #requireLocation: (location: SecretsLocation) => Promise<void>;
  readonly #requireKmsFeature: (projectId: string) => Promise<void>;

  constructor(deps: {
    storage: Storage;
    repo: InstanceRepo;
    versionRepo: SecretVersionRepo;
    kms: KmsService;
    crypto: ValueCrypto;
    audit: AuditLog;
    clock: Clock;
    logger: Logger;
    authorizer: Authorizer;
    iamRepo: IamRepo;
    requireLocation: (location: SecretsLocation) => Promise<void>;
    /** `feature_disabled` while the project's kms feature gate is off. */
    requireKmsFeature: (projectId: string) => Promise<void>;
  }) {
    this.#storage = deps.storage;
    this.#repo = deps.repo;
    this.#versionRepo = deps.versionRepo;
    this.#kms = deps.kms;
    this.#crypto = deps.crypto;
    this.#audit = deps.audit;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#authorizer = deps.authorizer;
    this.#iamRepo = deps.iamRepo;
    this.#requireLocation = deps.requireLocation;
    this.#requireKmsFeature = deps.requireKmsFeature;
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
    const explained = row.state === 'failed' || row.state === 'paused';
    return {
      id: row.id,
      name: operationName(location, row.id),
      done: row.state !== 'running' && row.state !== 'paused',
      state: row.state,
      ...(explained && row.error ? { error: row.error } : {}),
      progress: { total: Number(row.total), done: Number(row.done) },
    };
  }

  /**
   * Advances every running (or paused) rewrap whose lease is free: claims it (compare-and-set on the
   * lease), then rewraps in batches, each batch and its progress committed together, so a crash loses
   * nothing and another node (or this one after a restart) resumes once the lease expires.
   */
  async run(): Promise<void> {
    const now = this.#clock.nowMs();
    const due = await this.#storage.db
      .selectFrom('sm_operations')
      .selectAll()
      .where('state', 'in', ['running', 'paused'])
      .where('lease_until', '<', now)
      .limit(10)
      .execute();
    for (const op of due) {
      const lease = now + leaseMs;
      try {
        await this.#storage.write([
          stmt(
            this.#storage.db
              .updateTable('sm_operations')
              .set({ lease_until: lease })
              .where('id', '=', op.id)
              .where('lease_until', '=', op.lease_until),
            'one',
          ),
        ]);
      } catch (err) {
        if (err instanceof WriteRejected) continue; // another node claimed it
        throw err;
      }
      await this.#runRewrap(op, lease);
    }
  }

  async #runRewrap(op: Selectable<SmOperationsTable>, claimed: number): Promise<void> {
    const db = this.#storage.db;
    const location = { projectId: op.project_id, regionId: op.region_id };
    const targetKeyUid = op.target_key_uid;
    let lease = claimed;
    // Writes only while this run still holds the lease it claimed (or last extended).
    const guarded = (set: Updateable<SmOperationsTable>) =>
      stmt(
        db
          .updateTable('sm_operations')
          .set({ ...set, update_time: this.#clock.nowMs() })
          .where('id', '=', op.id)
          .where('lease_until', '=', lease),
        'one',
      );
    const settle = async (set: Updateable<SmOperationsTable>, ...extra: WriteStatement[]): Promise<void> => {
      try {
        await this.#storage.write([guarded(set), ...extra]);
      } catch (err) {
        if (!(err instanceof WriteRejected)) throw err;
        this.#logger.warn({ operation: op.id }, 'rewrap operation lost its lease; another node goes on');
      }
    };
    const instance = await this.#repo.findInstance(location, op.instance_id);
    if (!instance || instance.kmsKeyUid !== targetKeyUid) {
      // The instance moved on (another switch started its own operation), or is gone.
      await settle({ state: 'superseded', error: null });
      return;
    }
    const target = targetKeyUid ? await this.#kms.findKeyByUid(targetKeyUid) : undefined;
    const onBehalfOf = op.started_by;
    const remaining = await this.#versionRepo.countToRewrap(instance, targetKeyUid);
    await settle({ total: Number(op.done) + remaining });
    try {
      for (;;) {
        // Another switch may have superseded this one (on any node): stop rather than undo its work.
        const latest = await this.#repo.findInstance(location, op.instance_id);
        if (!latest || latest.kmsKeyUid !== targetKeyUid) {
          await settle({ state: 'superseded', error: null });
          return;
        }
        const rows = await this.#versionRepo.versionsToRewrap(instance, targetKeyUid, batch);
        if (rows.length === 0) break;
        const sources = new Map<string, CryptoKey>();
        for (const row of rows) {
          if (row.wrap_key_uid && !sources.has(row.wrap_key_uid)) {
            const key = await this.#kms.findKeyByUid(row.wrap_key_uid);
            if (key) sources.set(key.uid, key);
          }
        }
        const checked =
          (await this.#gateProblem(op, target, sources)) ??
          (await this.#identities(op, latest.kmsKey?.serviceAccountEmail, target, sources));
        if (typeof checked === 'string') {
          this.#logger.warn({ operation: op.id, reason: checked }, 'rewrap operation paused');
          await settle({ state: 'paused', error: checked });
          return;
        }
        const statements = [];
        const events = [];
        for (const row of rows) {
          const from = row.wrap_key_uid ? sources.get(row.wrap_key_uid) : undefined;
          const { dataKey } = await this.#crypto.unwrap(
            row.secret_uid,
            Number(row.version),
            Buffer.from(row.wrapped_key!),
            from,
          );
          const wrapped = await this.#crypto.wrap(row.secret_uid, Number(row.version), dataKey, {
            ...(target ? { key: target } : {}),
            ...(op.target_key_version !== null ? { keyVersion: Number(op.target_key_version) } : {}),
          });
          dataKey.fill(0);
          statements.push(
            this.#versionRepo.rewrapVersion(
              row.secret_uid,
              Number(row.version),
              row.wrap_key_uid,
              targetKeyUid,
              wrapped,
            ),
          );
          for (const [key, action, principal] of [
            [from, 'kms.decrypt', from ? checked.decrypters.get(from.uid) : undefined],
            [target, 'kms.encrypt', checked.encrypter],
          ] as const) {
            if (!key || !principal) continue;
            const nowMs = this.#clock.nowMs();
            events.push({
              // Time-ordered, as every audit event id: appended to the end of the id index.
              id: newTimeOrderedUuid(nowMs),
              timeMs: nowMs,
              requestId: `operation-${op.id}`,
              action,
              principal,
              ...(onBehalfOf ? { onBehalfOf } : {}),
              resource: keyResourceName(key),
              projectId: key.projectId,
              result: 'ok' as const,
              status: 200,
              details: { operation: op.id },
            });
          }
        }
        await this.#audit.append(events);
        const extended = this.#clock.nowMs() + leaseMs;
        statements.push(
          stmt(
            db
              .updateTable('sm_operations')
              .set((eb) => ({
                done: eb('done', '+', rows.length),
                state: 'running',
                error: null,
                lease_until: extended,
                update_time: this.#clock.nowMs(),
              }))
              .where('id', '=', op.id)
              .where('lease_until', '=', lease),
            'one',
          ),
        );
        try {
          await this.#storage.write(statements);
        } catch (err) {
          if (!(err instanceof WriteRejected)) throw err;
          // A version changed under us (retried next round) or the lease is gone (another node goes on).
          const still = await db
            .selectFrom('sm_operations')
            .select('lease_until')
            .where('id', '=', op.id)
            .executeTakeFirst();
          if (Number(still?.lease_until) !== lease) return;
          continue;
        }
        lease = extended;
      }
      await settle(
        { state: 'done', error: null },
        instanceChange(db, 'instance.rewrapped', instance, this.#clock.nowMs()),
      );
    } catch (err) {
      this.#logger.warn({ operation: op.id, err: (err as Error).message }, 'rewrap operation failed');
      await settle({
        state: 'failed',
        error: err instanceof CofferError ? err.message : 'The rewrap failed; see the server log.',
      });
    }
  }

  /**
   * A batch that uses a KMS key (the new one, or an old one it unwraps with) waits while the
   * instance's project has its kms feature gate off, as value reads and writes with a key do.
   */
  async #gateProblem(
    op: Selectable<SmOperationsTable>,
    target: CryptoKey | undefined,
    sources: ReadonlyMap<string, CryptoKey>,
  ): Promise<string | undefined> {
    if (!target && sources.size === 0) return undefined;
    try {
      await this.#requireKmsFeature(op.project_id);
      return undefined;
    } catch (err) {
      if (err instanceof CofferError && err.code === 'feature_disabled')
        return `Paused: the kms feature is disabled for project ${op.project_id}.`;
      throw err;
    }
  }

  /**
   * Who uses each key in the next batch, re-checked now: for each old key, the service account the
   * instance had before the switch (or, for operations from before that was recorded, its current
   * one) with kms.decrypt; for the new key, the instance's current service account with kms.encrypt.
   * Root-key wrapping needs no one. A string says why the batch may not run.
   */
  async #identities(
    op: Selectable<SmOperationsTable>,
    currentEmail: string | undefined,
    target: CryptoKey | undefined,
    sources: ReadonlyMap<string, CryptoKey>,
  ): Promise<{ decrypters: Map<string, Principal>; encrypter: Principal | undefined } | string> {
    const decrypters = new Map<string, Principal>();
    for (const key of sources.values()) {
      if (key.state !== 'active') return `Paused: the old key ${keyResourceName(key)} is ${key.state}.`;
      const email = op.source_service_account ?? currentEmail;
      if (!email) return `Paused: no service account may decrypt with the old key ${keyResourceName(key)}.`;
      const problem = await this.#accountProblem(email, 'kms.decrypt', key);
      if (problem) return problem;
      decrypters.set(key.uid, `serviceAccount:${email}` as Principal);
    }
    if (!target) return { decrypters, encrypter: undefined };
    if (target.state !== 'active')
      return `Paused: the new key ${keyResourceName(target)} is ${target.state}.`;
    if (!currentEmail) return { decrypters, encrypter: serviceIdentity as Principal };
    const problem = await this.#accountProblem(currentEmail, 'kms.encrypt', target);
    if (problem) return problem;
    return { decrypters, encrypter: `serviceAccount:${currentEmail}` as Principal };
  }

  async #accountProblem(
    email: string,
    permission: 'kms.decrypt' | 'kms.encrypt',
    key: CryptoKey,
  ): Promise<string | undefined> {
    const account = await this.#iamRepo.findServiceAccount(email);
    if (!account) return `Paused: service account ${email} no longer exists.`;
    if (account.disabled) return `Paused: service account ${email} is disabled.`;
    if (
      !(await this.#authorizer.holds(
        `serviceAccount:${email}` as Principal,
        permission,
        keyResourceName(key),
      ))
    )
      return `Paused: service account ${email} lacks ${permission} on ${keyResourceName(key)}.`;
    return undefined;
  }
}
