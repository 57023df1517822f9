import { randomBytes } from 'node:crypto';
import type { AuditEvent } from '../audit/audit-types.ts';
import type { Clock } from '../core/clock.ts';
import { newUuid } from '../core/ids.ts';
import type { Logger } from '../core/logger.ts';
import { secretChange } from '../secrets/secret-changes.ts';
import type { SecretStageRepo } from '../secrets/secret-stage-repo.ts';
import { type Caller, type Secret, secretName } from '../secrets/secret-types.ts';
import type { SecretValueService, ValueInput } from '../secrets/secret-value-service.ts';
import { CofferError, errors } from '../core/errors.ts';
import { type Storage, WriteRejected, type WriteStatement } from '../storage/storage-types.ts';
import { failureMessage } from './rotation-fns.ts';
import type { RotationRepo, RotationUpdate } from './rotation-repo.ts';
import {
  backoffMs,
  claimLeaseMs,
  maxAutomaticAttempts,
  type RotationRecord,
  type RotationTrigger,
} from './rotation-types.ts';
import type { RotationContext, RotationStep, Rotator } from './rotator.ts';

/** Commits a step's change with its audit event `{step, result, version}`, and records `extra`. */
export type StepAudit = (
  step: RotationStep,
  result: 'ok' | 'failed',
  version: number | undefined,
  extra: AuditEvent[],
  change: () => Promise<void>,
) => Promise<void>;

/** What one claimed run of a rotation works with. */
export interface RotationRunDeps {
  readonly storage: Storage;
  readonly repo: RotationRepo;
  readonly stageRepo: SecretStageRepo;
  readonly values: SecretValueService;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The secret, read under the claim. */
  readonly secret: Secret;
  /** Its rotation row, read under the claim. */
  readonly record: RotationRecord;
  readonly rotator: Rotator;
  /** The claim's owner token: every write is a compare-and-set on it. */
  readonly owner: string;
  readonly trigger: RotationTrigger;
  readonly audit: StepAudit;
  /** Reads a referenced secret's latest value as the service (its events go to `events`). */
  readonly readReference: (ref: string, events: AuditEvent[]) => Promise<Buffer>;
  /** Tests: stop as a crash would once this step is durable (see RotationService). */
  readonly stopAfter?: RotationStep;
  /** Thrown for `stopAfter`. */
  readonly stopped: (step: RotationStep) => Error;
}

const next: Record<RotationStep, RotationStep | undefined> = {
  create: 'set',
  set: 'test',
  test: 'finish',
  finish: undefined,
};

/** A run whose claim lapsed and was taken over: its writes were refused (nothing written). */
const lostClaim = () =>
  errors.conflict('The rotation was taken over by another node; read its status again.');

/** A rotation superseded at finish by a version put while it ran (`conflict`, recorded already). */
export class RotationSuperseded extends CofferError {
  constructor(message: string) {
    super('conflict', message);
  }
}

/** A value as the secrets domain takes it: text when it is valid UTF-8, else binary. */
function valueInput(bytes: Buffer): ValueInput {
  try {
    return { value: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    return { binaryValue: bytes };
  }
}

/**
 * One claimed run of a secret's rotation (the state machine of rotator.ts): from the step its row
 * records, each step's effect on the target first, then its durable record (a compare-and-set on
 * the claim, with its audit event); a failure records attempts, the failed step, a redacted message
 * and the next attempt's time (exponential backoff; `failed` after `maxAutomaticAttempts`),
 * leaving `current` untouched.
 */
export class RotationRun {
  readonly #d: RotationRunDeps;
  #step: RotationStep;
  #rotationId: string;
  #pendingVersion: number | null;
  #baseVersion: number | null;
  #attempts: number;
  /** Whether the current step's durable record committed (an audit failure may follow it). */
  #durable = false;

  constructor(deps: RotationRunDeps) {
    this.#d = deps;
    const record = deps.record;
    const fresh = record.state === 'idle' || record.rotationId === null;
    this.#step = fresh ? 'create' : (record.step ?? 'create');
    this.#rotationId = fresh ? newUuid() : record.rotationId!;
    this.#pendingVersion = fresh ? null : record.pendingVersion;
    this.#baseVersion = fresh ? null : record.baseVersion;
    // A new scheduled period after `failed` starts the failure count anew; a manual rotate keeps
    // counting (it skips the backoff, a success resets the count).
    this.#attempts =
      record.state === 'in_progress' || (record.state === 'failed' && deps.trigger.kind === 'manual')
        ? record.attempts
        : 0;
    if (this.#step !== 'create' && this.#pendingVersion === null) this.#step = 'create';
  }

  /** Runs the remaining steps; resolves with the version now `current`. */
  async run(): Promise<number> {
    try {
      await this.#begin();
    } catch (err) {
      if (err instanceof WriteRejected) throw lostClaim();
      throw err;
    }
    for (;;) {
      const step = this.#step;
      const events: AuditEvent[] = [];
      this.#durable = false;
      try {
        await this.#runStep(step, events);
      } catch (err) {
        // The claim lapsed and another node took the rotation over: it records what happens next.
        if (err instanceof WriteRejected) throw lostClaim();
        if (!(err instanceof RotationSuperseded)) await this.#fail(step, err, events);
        throw err;
      }
      if (this.#d.stopAfter === step) throw this.#d.stopped(step);
      const following = next[step];
      if (following === undefined) return this.#pendingVersion!;
      this.#step = following;
    }
  }

  /**
   * Marks an idle or failed rotation in progress; when the schedule is due, advances it past now
   * (`secret.rotation_due` in the change feed), so a failing rotation is not started again each tick.
   */
  async #begin(): Promise<void> {
    const { record, secret, repo, storage, clock } = this.#d;
    if (record.state === 'in_progress') return;
    const now = clock.nowMs();
    const statements: WriteStatement[] = [this.#update({ state: 'in_progress' })];
    const period = secret.rotationPeriodSeconds;
    if (period !== null && secret.nextRotationTimeMs !== null && secret.nextRotationTimeMs <= now) {
      let nextMs = secret.nextRotationTimeMs;
      while (nextMs <= now) nextMs += period * 1000;
      statements.push(
        repo.setNextRotation(secret.uid, nextMs, randomBytes(9).toString('base64url'), now),
        secretChange(storage.db, 'secret.rotation_due', secret, now),
      );
    }
    await storage.write(statements);
  }

  async #runStep(step: RotationStep, events: AuditEvent[]): Promise<void> {
    const { secret, rotator, storage, stageRepo, values, audit, repo, clock } = this.#d;
    const caller: Caller = {
      principal: this.#d.trigger.principal,
      requestId: this.#d.trigger.requestId,
      events,
    };
    if (step === 'create') {
      this.#baseVersion = (await stageRepo.stages(secret.uid)).get('current') ?? null;
      const pendingVersion = secret.nextVersion;
      this.#pendingVersion = pendingVersion;
      const value = await rotator.createValue(this.#context(events, caller));
      try {
        await audit(step, 'ok', pendingVersion, events, async () => {
          await values.putValue(
            secret,
            secret.instanceId,
            secret.path,
            { ...valueInput(value), stages: ['pending'], expectedLatestVersion: pendingVersion - 1 },
            undefined,
            caller,
            // Disabled in the same unit: `latest` keeps answering the current value until finish.
            [
              repo.versionState(secret.uid, pendingVersion, 'enabled', 'disabled'),
              this.#update({ state: 'in_progress', step: 'set' }),
            ],
          );
          this.#durable = true;
        });
      } finally {
        value.fill(0);
      }
      return;
    }
    const pendingVersion = this.#pendingVersion!;
    if (step === 'finish') {
      // Superseded already: the target is not told the rotation is done (checked again below).
      const latest = await repo.latestVersion(secret.uid);
      if (latest !== undefined && latest !== pendingVersion) return this.#superseded(latest, events);
    }
    const pending = await this.#read(pendingVersion, caller);
    try {
      const ctx = this.#context(events, caller);
      if (step === 'set') await rotator.setValue(ctx, pending);
      else if (step === 'test') await rotator.testValue(ctx, pending);
      else await rotator.finish(ctx, pending);
    } finally {
      pending.fill(0);
    }
    if (step !== 'finish') {
      await audit(step, 'ok', pendingVersion, events, async () => {
        await storage.write([this.#update({ state: 'in_progress', step: next[step]! })]);
        this.#durable = true;
      });
      return;
    }
    const now = clock.nowMs();
    // A version put during the rotation supersedes it: moving `current` back to the older pending
    // version would leave `latest` (the newer one) staged `previous`.
    const latest = await repo.latestVersion(secret.uid);
    if (latest !== undefined && latest !== pendingVersion) return this.#superseded(latest, events);
    const old = (await stageRepo.stages(secret.uid)).get('current');
    const statements: WriteStatement[] = [repo.expectLatestVersion(secret.uid, pendingVersion)];
    if (old !== undefined && old !== pendingVersion)
      statements.push(stageRepo.moveStage(secret.uid, 'previous', old));
    const period = secret.rotationPeriodSeconds;
    statements.push(
      repo.versionState(secret.uid, pendingVersion, 'disabled', 'enabled'),
      stageRepo.moveStage(secret.uid, 'current', pendingVersion),
      repo.dropStage(secret.uid, 'pending'),
      this.#update({
        state: 'idle',
        step: null,
        rotation_id: null,
        pending_version: null,
        base_version: null,
        attempts: 0,
        next_attempt_time: null,
        last_success_time: now,
      }),
      repo.setNextRotation(
        secret.uid,
        period === null ? null : now + period * 1000,
        randomBytes(9).toString('base64url'),
        now,
      ),
      secretChange(storage.db, 'stage.moved', secret, now, { version: pendingVersion, stage: 'current' }),
    );
    try {
      await audit(step, 'ok', pendingVersion, events, async () => {
        await storage.write(statements);
        this.#durable = true;
      });
    } catch (err) {
      // Rejected: the claim lapsed, or a version was put between the check and the write.
      if (!(err instanceof WriteRejected) || this.#durable) throw err;
      const now = await repo.latestVersion(secret.uid);
      if (now === undefined || now === pendingVersion) throw err;
      return this.#superseded(now, events);
    }
  }

  /**
   * Ends a rotation superseded by version `latest`, put while it ran: back to idle, `current`
   * untouched, the pending version left disabled (still staged `pending`, for an operator to read
   * what the target may already hold), the finish step recorded and audited as failed. Throws
   * `conflict` with the same message.
   */
  async #superseded(latest: number, events: AuditEvent[]): Promise<never> {
    const { storage, audit, clock } = this.#d;
    const now = clock.nowMs();
    const pendingVersion = this.#pendingVersion!;
    const message = `superseded by version ${latest} put during the rotation`;
    await audit('finish', 'failed', pendingVersion, events, async () => {
      await storage.write([
        this.#update({
          state: 'idle',
          step: null,
          rotation_id: null,
          pending_version: null,
          base_version: null,
          attempts: 0,
          next_attempt_time: null,
          last_failure_time: now,
          last_failure_step: 'finish',
          last_failure_message: message,
        }),
      ]);
      this.#durable = true;
    });
    throw new RotationSuperseded(`The rotation of ${secretName(this.#d.secret)} was ${message}.`);
  }

  /** Records a failed step (never rethrows: the step's own error is what the caller sees). */
  async #fail(step: RotationStep, err: unknown, events: AuditEvent[]): Promise<void> {
    const { clock, storage, audit, logger, secret } = this.#d;
    if (err instanceof Error && err.name === 'RotationStopped') return;
    // The step's record committed and only its audit failed: the rotation stands where it reached.
    if (this.#durable) {
      const reached = next[step];
      if (reached === undefined) return;
      step = reached;
    }
    const now = clock.nowMs();
    const attempts = this.#attempts + 1;
    const failed = attempts >= maxAutomaticAttempts;
    // A failed create stored nothing: the next attempt creates again (a new version number).
    if (step === 'create') this.#pendingVersion = null;
    try {
      await audit(step, 'failed', this.#pendingVersion ?? undefined, events, async () => {
        await storage.write([
          this.#update({
            state: failed ? 'failed' : 'in_progress',
            step,
            attempts,
            next_attempt_time: failed ? null : now + backoffMs(attempts),
            last_failure_time: now,
            last_failure_step: step,
            last_failure_message: failureMessage(err),
          }),
        ]);
      });
    } catch (recordErr) {
      logger.warn(
        { secret: secret.uid, step, err: failureMessage(recordErr) },
        'could not record a failed rotation step',
      );
    }
  }

  /** The row update of this run (claim renewed), with the run's identity and versions. */
  #update(changes: RotationUpdate): WriteStatement {
    const now = this.#d.clock.nowMs();
    return this.#d.repo.update(this.#d.secret.uid, this.#d.owner, {
      step: this.#step,
      rotation_id: this.#rotationId,
      pending_version: this.#pendingVersion,
      base_version: this.#baseVersion,
      attempts: this.#attempts,
      claim_until: now + claimLeaseMs,
      ...changes,
    });
  }

  /** A version's value, read back from storage through the secrets domain (never kept in memory). */
  async #read(version: number, caller: Caller): Promise<Buffer> {
    const { secret, values } = this.#d;
    const value = await values.revealVersion(secret, version, caller);
    return value.binaryValue ?? Buffer.from(value.value ?? '', 'utf8');
  }

  #context(events: AuditEvent[], caller: Caller): RotationContext {
    const base = this.#baseVersion;
    return {
      secretName: secretName(this.#d.secret),
      rotationId: this.#rotationId,
      pendingVersion: this.#pendingVersion ?? this.#d.secret.nextVersion,
      currentVersion: base ?? undefined,
      currentValue: () => (base === null ? Promise.resolve(undefined) : this.#read(base, caller)),
      readReference: (ref) => this.#d.readReference(ref, events),
    };
  }
}
