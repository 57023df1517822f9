import type { Clock } from '../core/clock.ts';
import { CofferError, errors } from '../core/errors.ts';
import { newTimeOrderedUuid } from '../core/ids.ts';
import type { Authorizer } from '../iam/authorizer.ts';
import type { Principal } from '../iam/principal.ts';
import { checkSecretPath } from '../secrets/secret-fns.ts';
import type { SecretService } from '../secrets/secret-service.ts';
import { type Caller, secretName, serviceIdentity } from '../secrets/secret-types.ts';
import type { SecretValueService } from '../secrets/secret-value-service.ts';
import { parsePostgresTarget, type PostgresTarget } from '../targets/postgres-target.ts';
import type { DatabaseLocation, DbConnection } from './database-types.ts';

/** A secret a reference names. */
export interface SecretRef {
  readonly projectId: string;
  readonly regionId: string;
  readonly instanceId: string;
  readonly path: string;
}

const fullName = /^projects\/([^/]+)\/regions\/([^/]+)\/instances\/([^/]+)\/secrets\/([^/]+)$/;

/**
 * Resolves a secret REF seen from `location`: a path in that instance (`db/admin`), or a full
 * secret name (`projects/{p}/regions/{r}/instances/{i}/secrets/{path}`, the path URL-encoded as one
 * segment) in the same project. `field` names the input in errors.
 */
export function resolveSecretRef(ref: string, location: DatabaseLocation, field: string): SecretRef {
  if (!ref.startsWith('projects/')) {
    checkSecretPath(ref);
    const { projectId, regionId, instanceId } = location;
    return { projectId, regionId, instanceId, path: ref };
  }
  const match = fullName.exec(ref);
  let path: string | undefined;
  try {
    path = match ? decodeURIComponent(match[4]!) : undefined;
  } catch {
    path = undefined;
  }
  if (!match || path === undefined)
    throw errors.invalid(`${field} must be a secret path or a full secret name (projects/…/secrets/{path}).`);
  if (match[1] !== location.projectId)
    throw errors.invalid(`${field} must name a secret of the same project.`);
  checkSecretPath(path);
  return { projectId: match[1]!, regionId: match[2]!, instanceId: match[3]!, path };
}

/**
 * The admin credentials of database connections, held in Coffer secrets: who may name one (the
 * caller must be able to read it, so nobody acts with a credential they cannot read), and reading
 * it as the service when a credential is issued or revoked (audited as `secrets.get_value` by
 * `service:secretsmanager` on behalf of the caller).
 */
export class AdminSecrets {
  readonly #authorizer: Authorizer;
  readonly #secrets: SecretService;
  readonly #values: SecretValueService;
  readonly #clock: Clock;

  constructor(deps: {
    authorizer: Authorizer;
    secrets: SecretService;
    values: SecretValueService;
    clock: Clock;
  }) {
    this.#authorizer = deps.authorizer;
    this.#secrets = deps.secrets;
    this.#values = deps.values;
    this.#clock = deps.clock;
  }

  /**
   * `permission_denied` unless `principal` holds `secrets.get_value` on the secret `ref` names,
   * then `invalid_argument` when it names no secret (only after the permission check, so a denied
   * caller learns nothing of what exists).
   */
  async requireAccess(
    principal: Principal,
    ref: string,
    location: DatabaseLocation,
    field: string,
  ): Promise<void> {
    const resolved = resolveSecretRef(ref, location, field);
    await this.#authorizer.check(principal, 'secrets.get_value', secretName(resolved));
    try {
      await this.#secrets.get(resolved, resolved.instanceId, resolved.path);
    } catch (err) {
      if (err instanceof CofferError && err.code === 'not_found')
        throw errors.invalid(`${field} ${ref} names no secret.`);
      throw err;
    }
  }

  /**
   * The connection's admin target: its host, port, database and sslmode, with the username and
   * password of the admin secret's latest enabled value. `caller` is who the read is made for
   * (its `events` receive the audit events of the read, KMS ones included).
   */
  async adminTarget(connection: DbConnection, caller: Caller): Promise<PostgresTarget> {
    const ref = resolveSecretRef(connection.adminSecret, connection, 'adminSecret');
    const name = secretName(ref);
    const events: typeof caller.events = [];
    const service: Caller = { principal: serviceIdentity as Principal, requestId: caller.requestId, events };
    const at = this.#clock.nowMs();
    let status = 200;
    try {
      const { instance, secret } = await this.#secrets.get(
        { projectId: ref.projectId, regionId: ref.regionId },
        ref.instanceId,
        ref.path,
      );
      const value = await this.#values.reveal(instance, secret, service);
      const json = value.value ?? value.binaryValue!;
      const admin = parsePostgresTarget(json, `The admin secret of database ${connection.name}`);
      return {
        ...admin,
        host: connection.host,
        port: connection.port,
        database: connection.database,
        sslmode: (connection.sslmode ?? admin.sslmode) as PostgresTarget['sslmode'],
      };
    } catch (err) {
      if (!(err instanceof CofferError) || err.kind === 'internal' || err.kind === 'unavailable') {
        status = 500;
        throw err;
      }
      status = 400;
      // The secret's own errors (missing, no enabled version, not connection JSON) never hold its value.
      throw new CofferError(
        'failed_precondition',
        `The admin secret of database ${connection.name} (${connection.adminSecret}) cannot be used: ${err.message}`,
      );
    } finally {
      caller.events.push(
        {
          id: newTimeOrderedUuid(at),
          timeMs: at,
          requestId: caller.requestId,
          action: 'secrets.get_value',
          principal: serviceIdentity,
          onBehalfOf: caller.principal,
          resource: name,
          projectId: ref.projectId,
          result: status < 400 ? 'ok' : 'error',
          status,
          details: { database: connection.name },
        },
        ...events,
      );
    }
  }
}
