import type { Clock } from '../core/clock.ts';
import { CofferError } from '../core/errors.ts';
import { newTimeOrderedUuid } from '../core/ids.ts';
import { type CryptoKey, keyResourceName } from '../kms/kms-types.ts';
import type { InstanceService } from './instance-service.ts';
import { type Caller, type Instance, type Secret, secretName } from './secret-types.ts';
import type { Wrapping } from './value-crypto.ts';

/**
 * The key checks of one request that reads several values (batchGetValues), made once for all of
 * them: the project's kms gate, and the acting identity per instance and key. Never kept beyond the
 * request, so every request still re-checks.
 */
export class SharedKeyChecks {
  readonly gates = new Map<string, Promise<void>>();
  readonly acting = new Map<string, Promise<string>>();
}

/** `map`'s promise for `key`, made by `make` the first time (a rejection is shared as well). */
function once<T>(map: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let promise = map.get(key);
  if (promise === undefined) {
    promise = make();
    map.set(key, promise);
  }
  return promise;
}

/**
 * How a value operation uses a KMS key: the project's `kms` feature gate (seed 000's prerequisite;
 * root-key protection uses no KMS and needs no gate), the key's state, the identity that acts (the
 * instance's service account, re-checked, or the service) on behalf of the caller, and the
 * `kms.encrypt`/`kms.decrypt` event that records it, failed until the operation succeeds.
 */
export class ValueKeyUse {
  readonly #instances: InstanceService;
  readonly #clock: Clock;

  constructor(instances: InstanceService, clock: Clock) {
    this.#instances = instances;
    this.#clock = clock;
  }

  /** `feature_disabled` when the value would use a KMS key and the project's kms gate is off. */
  async requireGate(instance: Instance, key: CryptoKey | undefined, shared?: SharedKeyChecks): Promise<void> {
    if (!key) return;
    const projectId = instance.projectId;
    await (shared
      ? once(shared.gates, projectId, () => this.#instances.requireKmsFeature(projectId))
      : this.#instances.requireKmsFeature(projectId));
  }

  /**
   * Checks the gate (unless the caller just did: `gateChecked`), the key and the acting identity,
   * and records the KMS event the operation will make.
   */
  async wrapping(
    instance: Instance,
    secret: Secret,
    key: CryptoKey | undefined,
    caller: Caller,
    action: 'kms.encrypt' | 'kms.decrypt',
    shared?: SharedKeyChecks,
    gateChecked = false,
  ): Promise<Wrapping> {
    if (!key) return {};
    if (!gateChecked) await this.requireGate(instance, key, shared);
    if (key.state !== 'active') throw new CofferError('key_not_active', `The bound key is ${key.state}.`);
    const acting = await (shared
      ? once(shared.acting, `${instance.id}\u0000${key.uid}`, () =>
          this.#instances.actingIdentity(instance, key),
        )
      : this.#instances.actingIdentity(instance, key));
    caller.events.push({
      id: newTimeOrderedUuid(this.#clock.nowMs()),
      timeMs: this.#clock.nowMs(),
      requestId: caller.requestId,
      action,
      principal: acting,
      onBehalfOf: caller.principal,
      resource: keyResourceName(key),
      projectId: key.projectId,
      // Recorded as failed until the KMS operation succeeds (status 0 = the answer's status).
      result: 'error',
      status: 0,
      details: { secret: secretName(secret) },
    });
    const followsInstance = secret.kmsKeyUid === null && instance.kmsKeyUid === key.uid;
    return { key, ...(followsInstance && instance.kmsKey ? { keyVersion: instance.kmsKey.keyVersion } : {}) };
  }

  /** Marks the KMS event recorded last as succeeded, with the key version used. */
  succeeded(caller: Caller, key: CryptoKey | undefined, kmsKeyVersion: number | undefined): void {
    const last = caller.events.at(-1);
    if (key && last && kmsKeyVersion !== undefined)
      caller.events[caller.events.length - 1] = {
        ...last,
        result: 'ok',
        status: 200,
        details: { ...last.details, keyVersion: kmsKeyVersion },
      };
  }
}
