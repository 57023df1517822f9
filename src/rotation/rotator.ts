/**
 * The contract between the rotation engine (rotation-service.ts) and a rotator (random, postgresql,
 * webhook). The engine owns durability and ordering — AWS's four steps, each made durable before the
 * next, resumed after a crash at the step reached — and a rotator only acts on its target:
 *
 * 1. `create`: the engine calls `createValue` and stores the result as a new version staged
 *    `pending` (with the rotation's state) in one unit; after that the pending value is only ever
 *    read back from storage, so a crash never loses it and a resumed rotation never creates twice.
 * 2. `set`: `setValue` puts the pending value on the target. It must be idempotent (a crash after
 *    it and before the engine records the step runs it again).
 * 3. `test`: `testValue` proves the pending value works (PostgreSQL: a real login). A failure
 *    leaves `current` untouched; the engine retries with backoff.
 * 4. `finish`: `finish` tells the target the rotation is done (a webhook's last call); then the
 *    engine moves `current` to the pending version and `previous` to the old current, and drops
 *    `pending`, in one unit.
 *
 * Every failure a rotator throws is a `CofferError` (`target_failed` for the target's own failures,
 * see targets/postgres-target.ts `targetFailed`) whose message names the target and never holds a
 * value, a password or a key.
 */

/** A rotation step, in order. */
export type RotationStep = 'create' | 'set' | 'test' | 'finish';

/** The steps in the order they run. */
export const rotationSteps: readonly RotationStep[] = ['create', 'set', 'test', 'finish'];

/** What a rotator is given for one rotation of one secret. */
export interface RotationContext {
  /** The rotated secret's full resource name (`projects/…/secrets/{path}`), for errors and hooks. */
  readonly secretName: string;
  /** A stable id of this rotation (the same across resumes): a webhook's idempotency token. */
  readonly rotationId: string;
  /** The version number the pending value has (or gets at `create`). */
  readonly pendingVersion: number;
  /** The version staged `current` when the rotation began (undefined: the secret had none). */
  readonly currentVersion: number | undefined;
  /** The value of `currentVersion` (undefined when there is none), decrypted on demand. */
  currentValue(): Promise<Buffer | undefined>;
  /**
   * The latest enabled value of a secret the rotator's configuration references (admin
   * credentials, a signing key): `ref` is a path in the rotated secret's instance or a full secret
   * name in its project. The engine reads it as the rotation service, audited; the caller who set
   * the configuration was checked for `secrets.versions.access` on it then.
   */
  readReference(ref: string): Promise<Buffer>;
}

/** One kind of rotation target. */
export interface Rotator {
  /** `create`: the new value (not yet stored). */
  createValue(ctx: RotationContext): Promise<Buffer>;
  /** `set`: puts `pending` on the target; idempotent. */
  setValue(ctx: RotationContext, pending: Buffer): Promise<void>;
  /** `test`: proves `pending` works on the target. */
  testValue(ctx: RotationContext, pending: Buffer): Promise<void>;
  /** `finish`: tells the target the rotation is done (before the engine moves the stages). */
  finish(ctx: RotationContext, pending: Buffer): Promise<void>;
}
