import type { AuditEvent } from '../audit/audit-types.ts';
import type { Clock } from '../core/clock.ts';
import { errors } from '../core/errors.ts';
import { newTimeOrderedUuid } from '../core/ids.ts';
import type { Authorizer } from '../iam/authorizer.ts';
import type { ProjectService } from '../projects/project-service.ts';
import type { InstanceService } from './instance-service.ts';
import type { SecretService } from './secret-service.ts';
import { type Caller, type SecretsLocation, secretName } from './secret-types.ts';
import type { RevealedValue, SecretValueService } from './secret-value-service.ts';
import { SharedKeyChecks } from './value-key-use.ts';

/** How a failed read is answered for its secret: the error's status, code and message. */
export interface BatchFailure {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

/**
 * Describes a per-secret error as the API answers it (the caller's error mapping); undefined for an
 * unexpected error, which fails the whole request instead of one secret.
 */
export type DescribeFailure = (err: unknown) => BatchFailure | undefined;

/** What a batch read returns: the values read and the per-secret errors, each in request order. */
export interface BatchRevealResult {
  readonly values: Array<{ readonly path: string; readonly value: RevealedValue }>;
  readonly errors: Array<{ readonly path: string; readonly error: { code: string; message: string } }>;
}

/**
 * batchGetValues (SPEC §6): the latest value of up to 20 secrets of one instance, as a batch — one
 * authorization pass over every path before anything is looked up (a caller who may read none of
 * them learns nothing, not even whether the instance exists), one feature check and one instance
 * lookup for the batch, the key checks the secrets share (kms gate, acting identity) once, then per
 * secret its metadata (the services' caches) and a decryption of its own (a plaintext is never
 * cached). Errors are per secret. Audit: per secret one
 * `secrets.get_value` event and, when a KMS key is used, its `kms.decrypt` event, all added to the
 * caller's events so that they are appended with the request's `secrets.batch_get_values` event in
 * one append.
 */
export class BatchReveal {
  readonly #authorizer: Authorizer;
  readonly #projects: ProjectService;
  readonly #instances: InstanceService;
  readonly #secrets: SecretService;
  readonly #values: SecretValueService;
  readonly #clock: Clock;

  constructor(deps: {
    authorizer: Authorizer;
    projects: ProjectService;
    instances: InstanceService;
    secrets: SecretService;
    values: SecretValueService;
    clock: Clock;
  }) {
    this.#authorizer = deps.authorizer;
    this.#projects = deps.projects;
    this.#instances = deps.instances;
    this.#secrets = deps.secrets;
    this.#values = deps.values;
    this.#clock = deps.clock;
  }

  /** Reads the latest value (or the one `stage` is on) of each of `paths` in the instance `instanceId`. */
  async read(
    location: SecretsLocation,
    instanceId: string,
    paths: readonly string[],
    caller: Caller,
    describe: DescribeFailure,
    stage?: string,
  ): Promise<BatchRevealResult> {
    const at = { projectId: location.projectId, regionId: location.regionId, instanceId, path: '' };
    let names = paths.map((path) => secretName({ ...at, path }));
    let allowed = await this.#mayRead(caller, names);
    if (!allowed.includes(true)) throw errors.denied();
    await this.#projects.requireFeature(location.projectId, 'secrets');
    const instance = await this.#instances.get(location, instanceId);
    if (instance.id !== instanceId) {
      // The names the caller was authorized on must be the ones of the instance read.
      names = paths.map((path) => secretName({ ...at, instanceId: instance.id, path }));
      allowed = await this.#mayRead(caller, names);
    }
    const result: BatchRevealResult = { values: [], errors: [] };
    const shared = new SharedKeyChecks();
    for (let i = 0; i < paths.length; i++) {
      const path = paths[i]!;
      const kmsEvents: AuditEvent[] = [];
      let status = 200;
      try {
        if (!allowed[i]) throw errors.denied();
        const secret = await this.#secrets.inInstance(instance, path);
        const value = await this.#values.reveal(
          instance,
          secret,
          { ...caller, events: kmsEvents },
          shared,
          stage,
        );
        result.values.push({ path, value });
      } catch (err) {
        const failure = describe(err);
        if (failure === undefined) throw err;
        status = failure.status;
        result.errors.push({ path, error: { code: failure.code, message: failure.message } });
        for (let k = 0; k < kmsEvents.length; k++) {
          const event = kmsEvents[k]!;
          // A KMS event still pending (status 0) failed with the secret's error.
          if (event.status === 0) kmsEvents[k] = { ...event, result: 'error', status };
        }
      }
      const nowMs = this.#clock.nowMs();
      caller.events.push(
        {
          id: newTimeOrderedUuid(nowMs),
          timeMs: nowMs,
          requestId: caller.requestId,
          action: 'secrets.get_value',
          principal: caller.principal,
          resource: names[i]!,
          projectId: instance.projectId,
          result: status < 400 ? 'ok' : status === 403 ? 'denied' : 'error',
          status,
        },
        ...kmsEvents,
      );
    }
    return result;
  }

  /** Whether the caller holds `secrets.get_value` on each name: one pass, the policy cache's. */
  async #mayRead(caller: Caller, names: readonly string[]): Promise<boolean[]> {
    const allowed: boolean[] = [];
    for (const name of names) {
      allowed.push(await this.#authorizer.holds(caller.principal, 'secrets.get_value', name));
    }
    return allowed;
  }
}
