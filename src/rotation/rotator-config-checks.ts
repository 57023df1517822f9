import { isDeepStrictEqual } from 'node:util';
import type { PostgresRotatorConfig, RotatorConfig } from '../core/api/rotation-schemas.ts';
import { errors } from '../core/errors.ts';
import type { Authorizer } from '../iam/authorizer.ts';
import { resolveSecretReference, type SecretReferences } from '../secrets/secret-references.ts';
import type { SecretService } from '../secrets/secret-service.ts';
import { type Caller, type Instance, secretName } from '../secrets/secret-types.ts';
import { parsePostgresTarget } from '../targets/postgres-target.ts';
import { pinsOf } from './postgresql-rotator.ts';
import { referencesOf, rotatorOf, rotatorView } from './rotation-fns.ts';
import type { RotatorFactory } from './rotation-types.ts';
import { buildRotator } from './rotator-registry.ts';

/** How errors name a rotator's reference. */
export const referenceField = 'The rotator reference';

/** What the checks work with. */
export interface RotatorConfigChecksDeps {
  readonly secrets: SecretService;
  readonly authorizer: Authorizer;
  readonly references: SecretReferences;
  readonly factories: Readonly<Record<string, RotatorFactory>>;
}

/**
 * Checks of rotator configurations where they are set (create, PATCH): who may set, change or
 * remove a rotator, its references, and a postgresql rotator's pinned target. Configurations are
 * checked here only, not again at run time (docs/rotation.md "Security notes").
 */
export class RotatorConfigChecks {
  readonly #d: RotatorConfigChecksDeps;

  constructor(deps: RotatorConfigChecksDeps) {
    this.#d = deps;
  }

  /**
   * Checks a rotator configuration being set on a secret at `path` of `instance` by `caller`: the
   * caller may read and write that secret's values (`secrets.get_value`, `secrets.put_value`),
   * the type is available, the rotator accepts it (a webhook's URL), every referenced secret is in
   * the same project, is not the rotated secret itself, and the caller holds `secrets.get_value`
   * on it (`permission_denied` before anything is looked up, so nothing about it leaks), and it
   * exists; a postgresql rotator's target is pinned. Returns the configuration as stored.
   */
  async checkRotator(
    instance: Instance,
    path: string,
    config: RotatorConfig,
    caller: Caller,
  ): Promise<string> {
    const principal = caller.principal;
    // A rotator reads the rotated secret's values (a webhook receives them) and writes new ones: only
    // whoever may do both may set one, or `secrets.secrets.update` alone would reveal the value.
    const rotated = secretName({ ...instance, instanceId: instance.id, path });
    for (const permission of ['secrets.get_value', 'secrets.put_value'] as const)
      if (!(await this.#d.authorizer.holds(principal, permission, rotated)))
        throw errors.denied(permission, rotated);
    config = await this.#unredacted(instance, path, config);
    // Building the rotator validates what the schema cannot (a webhook's URL, PostgreSQL role names).
    buildRotator(this.#d.factories, config);
    const from = { projectId: instance.projectId, regionId: instance.regionId, instanceId: instance.id };
    for (const ref of referencesOf(config)) {
      const target = resolveSecretReference(ref, from, referenceField);
      if (target.instanceId === instance.id && target.regionId === instance.regionId && target.path === path)
        throw errors.invalid('A rotator cannot reference the secret it rotates.');
      await this.#d.references.requireReadable(principal, ref, from, referenceField);
    }
    if (config.type === 'postgresql') config = await this.#pinned(instance, path, config, caller);
    return JSON.stringify(config);
  }

  /**
   * A postgresql rotator with its target pinned: host, port, database and sslmode not given are
   * taken from the connection secret's value now (the caller may read it: checked before), so a
   * later write of that secret cannot redirect the rotation (and its new password) elsewhere.
   */
  async #pinned(
    instance: Instance,
    path: string,
    config: PostgresRotatorConfig,
    caller: Caller,
  ): Promise<PostgresRotatorConfig> {
    if (pinsOf(config)) return config;
    const from = { projectId: instance.projectId, regionId: instance.regionId, instanceId: instance.id };
    const read = await this.#d.references.readAsService(config.connectionSecret, from, referenceField, {
      requestId: caller.requestId,
      onBehalfOf: caller.principal,
      details: { rotation: secretName({ ...instance, instanceId: instance.id, path }) },
      events: caller.events,
    });
    try {
      const target = parsePostgresTarget(read.bytes, `The connectionSecret ${config.connectionSecret}`);
      const pinned = {
        ...config,
        host: config.host ?? target.host,
        port: config.port ?? target.port,
        database: config.database ?? target.database,
        sslmode: config.sslmode ?? target.sslmode,
      };
      buildRotator(this.#d.factories, pinned); // The filled fields are checked as given ones are.
      return pinned;
    } finally {
      read.bytes.fill(0);
    }
  }

  /**
   * The rotator a PATCH of `rotation` stores (undefined: none). Keeping the stored rotator — sent
   * back as the view shows it, e.g. with only the period changed — needs nothing beyond the route's
   * `secrets.secrets.update`; setting, changing or removing one (`rotation: null`, or a rotation
   * without `rotator`) needs what setting one needs (`secrets.get_value` and `secrets.put_value` on
   * the rotated secret; `checkRotator`), or metadata rights alone would switch a rotation off or
   * point it elsewhere.
   */
  async checkRotatorPatch(
    instance: Instance,
    path: string,
    rotation: { readonly rotator?: RotatorConfig | undefined } | null,
    caller: Caller,
  ): Promise<string | undefined> {
    const { secret } = await this.#d.secrets.get(instance, instance.id, path, true);
    const stored = rotatorOf(secret);
    const given = rotation?.rotator;
    if (
      stored &&
      given &&
      (isDeepStrictEqual(given, rotatorView(stored)) || isDeepStrictEqual(given, stored))
    )
      return secret.rotator!;
    if (given) return this.checkRotator(instance, path, given, caller);
    if (stored) {
      const rotated = secretName({ ...instance, instanceId: instance.id, path });
      for (const permission of ['secrets.get_value', 'secrets.put_value'] as const)
        if (!(await this.#d.authorizer.holds(caller.principal, permission, rotated)))
          throw errors.denied(permission, rotated);
    }
    return undefined;
  }

  /**
   * A webhook URL sent back as the view showed it (`?redacted`) keeps the stored URL's query, so a
   * read-modify-write of `rotation` does not break the hook.
   */
  async #unredacted(instance: Instance, path: string, config: RotatorConfig): Promise<RotatorConfig> {
    if (config.type !== 'webhook' || !config.url.endsWith('?redacted')) return config;
    const stored = await this.#d.secrets
      .get(instance, instance.id, path, true)
      .then(({ secret }) => rotatorOf(secret))
      .catch(() => undefined);
    if (stored?.type !== 'webhook') return config;
    const shown = rotatorView(stored);
    return shown.type === 'webhook' && shown.url === config.url ? { ...config, url: stored.url } : config;
  }
}
