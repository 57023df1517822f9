import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../audit/audit-log.ts';
import { auditedChange } from '../audit/audit-outbox.ts';
import type { AuditEvent } from '../audit/audit-types.ts';
import type { RotatorConfig, RotationStatusView } from '../core/api/rotation-schemas.ts';
import type { Clock } from '../core/clock.ts';
import { CofferError, errors } from '../core/errors.ts';
import { newTimeOrderedUuid } from '../core/ids.ts';
import type { Logger } from '../core/logger.ts';
import type { Authorizer } from '../iam/authorizer.ts';
import type { Principal } from '../iam/principal.ts';
import { SecretReferences } from '../secrets/secret-references.ts';
import type { SecretService } from '../secrets/secret-service.ts';
import type { SecretStageRepo } from '../secrets/secret-stage-repo.ts';
import {
  type Caller,
  type Instance,
  type Secret,
  secretName,
  serviceIdentity,
} from '../secrets/secret-types.ts';
import type { SecretValueService } from '../secrets/secret-value-service.ts';
import type { SecretsRepo } from '../secrets/secrets-repo.ts';
import { type Storage, WriteRejected } from '../storage/storage-types.ts';
import { rotatorOf, statusView } from './rotation-fns.ts';
import type { RotationRepo } from './rotation-repo.ts';
import { RotationRun } from './rotation-run.ts';
import {
  claimLeaseMs,
  manualRetryMinMs,
  type RotationObserver,
  type RotationTrigger,
  type RotatorFactory,
} from './rotation-types.ts';
import type { RotationStep } from './rotator.ts';
import { buildRotator, defaultRotators } from './rotator-registry.ts';
import { referenceField, RotatorConfigChecks } from './rotator-config-checks.ts';

/** What the rotation engine is built from. */
export interface RotationServiceDeps {
  /** Storage that carries a request's audit event with its first change (audit outbox). */
  readonly storage: Storage;
  readonly repo: RotationRepo;
  readonly secretsRepo: SecretsRepo;
  readonly stageRepo: SecretStageRepo;
  readonly secrets: SecretService;
  readonly values: SecretValueService;
  readonly authorizer: Authorizer;
  readonly audit: AuditLog;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Told of step and run outcomes (metrics). */
  readonly observer?: RotationObserver;
  /** Rotator factories by type (default: every rotator this server has). */
  readonly rotators?: Readonly<Record<string, RotatorFactory>>;
  /**
   * Tests only: after this step is durable the run stops as a crash would (its claim left behind,
   * as a dead process leaves it), so that a fresh service over the same storage can be shown to resume.
   */
  readonly stopAfter?: RotationStep;
}

/** Thrown by a run stopped by `stopAfter` (tests). */
export class RotationStopped extends Error {
  constructor(step: RotationStep) {
    super(`rotation stopped after ${step} (test)`);
    this.name = 'RotationStopped';
  }
}

/**
 * The rotation engine (issue 15 §1, rotator.ts): validates rotator configurations where they are
 * set, runs a secret's rotation on demand or on its schedule — the four steps, each durable before
 * the next, resumed at the step reached — claimed by one node at a time (a compare-and-set lease on
 * the secret's `sm_rotations` row), with backoff after failures and `rotationStatus` for the views.
 */
export class RotationService {
  readonly #deps: RotationServiceDeps;
  readonly #factories: Readonly<Record<string, RotatorFactory>>;
  /**
   * This engine's claim prefix. SQLite has one process per store (the data-dir lock): a claim with
   * another prefix was left by a stopped process, and is taken over at once instead of after its
   * lease (a restarted server resumes at once). PostgreSQL nodes share the store: leases only.
   */
  readonly #node = `${randomUUID()}:`;
  readonly #singleProcess: boolean;

  readonly #references: SecretReferences;
  readonly #checks: RotatorConfigChecks;

  constructor(deps: RotationServiceDeps) {
    this.#deps = deps;
    this.#references = new SecretReferences(deps);
    this.#factories = deps.rotators ?? defaultRotators;
    this.#checks = new RotatorConfigChecks({
      ...deps,
      references: this.#references,
      factories: this.#factories,
    });
    this.#singleProcess = deps.storage.engine === 'sqlite';
  }

  /**
   * Another engine over the same storage and services with other rotators or a test stop: what a
   * fresh process would build (tests drive crashes and failing targets with it).
   */
  derive(overrides: Pick<RotationServiceDeps, 'rotators' | 'stopAfter' | 'clock'>): RotationService {
    return new RotationService({ ...this.#deps, ...overrides });
  }

  /** Checks a rotator configuration being set (see RotatorConfigChecks.checkRotator). */
  checkRotator(instance: Instance, path: string, config: RotatorConfig, caller: Caller): Promise<string> {
    return this.#checks.checkRotator(instance, path, config, caller);
  }

  /** The rotator a PATCH of `rotation` stores (see RotatorConfigChecks.checkRotatorPatch). */
  checkRotatorPatch(
    instance: Instance,
    path: string,
    rotation: { readonly rotator?: RotatorConfig | undefined } | null,
    caller: Caller,
  ): Promise<string | undefined> {
    return this.#checks.checkRotatorPatch(instance, path, rotation, caller);
  }

  /** `rotationStatus` of one secret. */
  async status(secret: Secret): Promise<RotationStatusView> {
    return statusView(secret, await this.#deps.repo.find(secret.uid));
  }

  /** `rotationStatus` of several secrets (a list page), read at once. */
  async statuses(secrets: readonly Secret[]): Promise<Map<string, RotationStatusView>> {
    const records = await this.#deps.repo.findMany(secrets.map((s) => s.uid));
    return new Map(secrets.map((s) => [s.uid, statusView(s, records.get(s.uid))]));
  }

  /**
   * `POST …/rotate`: runs the secret's rotation now, all four steps (or the rest of one in
   * progress, from the step it reached). `failed_precondition` without a rotator; `conflict` while
   * another request or node runs it; a failed step rethrows its error (`target_failed`) after
   * recording it.
   */
  async rotateNow(
    location: { projectId: string; regionId: string },
    instanceId: string,
    path: string,
    caller: Caller,
  ): Promise<{ version: number; rotationStatus: RotationStatusView }> {
    const { secret } = await this.#deps.secrets.get(location, instanceId, path, true);
    // Manual rotates skip the backoff (the recovery path), but not right after a failed attempt.
    const record = await this.#deps.repo.find(secret.uid);
    const failedAt = record && record.state !== 'idle' ? record.lastFailure?.timeMs : undefined;
    const waitMs = failedAt === undefined ? 0 : failedAt + manualRetryMinMs - this.#deps.clock.nowMs();
    if (waitMs > 0)
      throw new CofferError(
        'rate_limited',
        `The rotation failed less than ${manualRetryMinMs / 1000} s ago; retry after the Retry-After delay.`,
        { retryAfterSeconds: Math.ceil(waitMs / 1000) },
      );
    const version = await this.#run(secret.uid, {
      principal: caller.principal,
      requestId: caller.requestId,
      kind: 'manual',
      events: caller.events,
    });
    const fresh = (await this.#deps.secretsRepo.findSecretByUid(secret.uid)) ?? secret;
    return { version: version ?? 0, rotationStatus: await this.status(fresh) };
  }

  /**
   * The schedule's work (background jobs): rotations whose `nextRotationTime` came, and rotations in
   * progress whose retry is due (or that a stopped node left). Each is claimed first: of several
   * nodes, one runs it and the others skip it. Returns the secrets rotated.
   */
  async runDue(limit = 20, concurrency = 4): Promise<number> {
    const { repo, clock } = this.#deps;
    const now = clock.nowMs();
    const due = [
      ...new Set([
        ...(await repo.dueRetries(now, limit, this.#singleProcess)),
        ...(await repo.dueScheduled(now, limit)),
      ]),
    ];
    let rotated = 0;
    // A few at once: one slow target (a webhook's timeout) does not hold up the others.
    const worker = async () => {
      for (let uid = due.shift(); uid !== undefined; uid = due.shift())
        if (await this.#runScheduled(uid)) rotated++;
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, due.length) }, worker));
    return rotated;
  }

  /** One scheduled run: whether it rotated; failures are recorded on the secret, not thrown. */
  async #runScheduled(uid: string): Promise<boolean> {
    const { logger } = this.#deps;
    try {
      const version = await this.#run(uid, {
        principal: serviceIdentity as Principal,
        requestId: `job-${randomUUID()}`,
        kind: 'scheduled',
      });
      return version !== undefined;
    } catch (err) {
      if (err instanceof RotationStopped) throw err;
      // Recorded on the secret (rotationStatus) and audited; the log names the secret, not the value.
      if (!(err instanceof CofferError && err.code === 'conflict'))
        logger.warn(
          { secret: uid, code: err instanceof CofferError ? err.code : (err as Error).name },
          'scheduled rotation failed',
        );
      return false;
    }
  }

  /**
   * Claims and runs one rotation; the new current version, or undefined when a scheduled run found
   * it no longer due (another node did it).
   */
  async #run(secretUid: string, trigger: RotationTrigger): Promise<number | undefined> {
    const { storage, repo, secretsRepo, clock } = this.#deps;
    const secret = await secretsRepo.findSecretByUid(secretUid);
    if (!secret) throw errors.notFound('The secret');
    const config = rotatorOf(secret);
    if (!config)
      throw new CofferError('failed_precondition', 'The secret has no rotator; set rotation.rotator first.');
    if (secret.deleteTimeMs !== null)
      throw new CofferError('failed_precondition', 'The secret is pending deletion; restore it first.');
    buildRotator(this.#factories, config); // Unavailable type: refused before claiming.
    const owner = `${this.#node}${randomUUID()}`;
    const now = clock.nowMs();
    try {
      const prefix = this.#singleProcess ? this.#node : undefined;
      await storage.write(repo.claim(secretUid, owner, now, now + claimLeaseMs, prefix));
    } catch (err) {
      if (err instanceof WriteRejected)
        throw errors.conflict('The secret is being rotated by another request or node; retry shortly.');
      throw err;
    }
    let stopped = false;
    const started = performance.now();
    const observer = this.#deps.observer;
    try {
      // Read again under the claim: what another node finished meanwhile is visible now.
      const claimed = (await secretsRepo.findSecretByUid(secretUid)) ?? secret;
      const record = await repo.find(secretUid);
      if (!record) throw errors.notFound('The rotation');
      const current = rotatorOf(claimed);
      if (!current) throw new CofferError('failed_precondition', 'The secret has no rotator any more.');
      if (trigger.kind === 'scheduled') {
        const due =
          record.state === 'in_progress'
            ? record.nextAttemptTimeMs === null || record.nextAttemptTimeMs <= now
            : claimed.nextRotationTimeMs !== null && claimed.nextRotationTimeMs <= now;
        if (!due) return undefined;
      }
      const run = new RotationRun({
        ...this.#deps,
        secret: claimed,
        record,
        rotator: buildRotator(this.#factories, current),
        owner,
        trigger,
        audit: (step, result, version, extra, change) =>
          this.#audited(trigger, claimed, { step, result, version }, extra, change),
        readReference: (ref, events) => this.#readReference(claimed, ref, trigger, events),
        stopped: (step) => new RotationStopped(step),
      });
      const version = await run.run();
      observer?.run(trigger.kind, 'ok', (performance.now() - started) / 1000);
      return version;
    } catch (err) {
      if (err instanceof RotationStopped) stopped = true;
      else observer?.run(trigger.kind, 'failed', (performance.now() - started) / 1000);
      throw err;
    } finally {
      if (!stopped) await storage.write([repo.release(secretUid, owner)]).catch(() => undefined);
    }
  }

  /**
   * A referenced secret's latest enabled value, read as the rotation service on behalf of the
   * trigger's principal, and audited like the service's other reads (`secrets.get_value`).
   */
  async #readReference(secret: Secret, ref: string, trigger: RotationTrigger, events: AuditEvent[]) {
    const read = await this.#references.readAsService(ref, secret, referenceField, {
      requestId: trigger.requestId,
      onBehalfOf: trigger.principal,
      details: { rotation: secretName(secret) },
      events,
    });
    return read.bytes;
  }

  /**
   * Commits a step's change together with its audit event `secrets.secrets.rotate` {step, result,
   * version} (audit outbox), then records the step's further events (KMS use, reference reads): a
   * request's go with its answer, the schedule's are written here. `extra` is emptied.
   */
  async #audited(
    trigger: RotationTrigger,
    secret: Secret,
    outcome: { step: RotationStep; result: 'ok' | 'failed'; version: number | undefined },
    extra: AuditEvent[],
    change: () => Promise<void>,
  ): Promise<void> {
    const now = this.#deps.clock.nowMs();
    let ok = outcome.result === 'ok';
    const recorded: AuditEvent = {
      id: newTimeOrderedUuid(now),
      timeMs: now,
      requestId: trigger.requestId,
      action: 'secrets.secrets.rotate',
      principal: trigger.principal,
      resource: secretName(secret),
      projectId: secret.projectId,
      result: ok ? 'ok' : 'error',
      status: ok ? 200 : 503,
      details: {
        step: outcome.step,
        result: outcome.result,
        ...(outcome.version !== undefined ? { version: outcome.version } : {}),
      },
    };
    try {
      await auditedChange(this.#deps.audit, recorded, change);
      this.#deps.observer?.step(outcome.step, outcome.result);
    } catch (err) {
      ok = false;
      throw err;
    } finally {
      const events = extra.splice(0, extra.length);
      if (trigger.events) trigger.events.push(...events);
      else if (events.length > 0)
        await this.#deps.audit.append(
          events.map((e) =>
            e.status === 0
              ? { ...e, status: ok ? 200 : 503, result: ok ? ('ok' as const) : ('error' as const) }
              : e,
          ),
        );
    }
  }
}
