import type { Clock } from '../core/clock.ts';
import { CofferError } from '../core/errors.ts';
import type { Authorizer } from '../iam/authorizer.ts';
import type { Principal } from '../iam/principal.ts';
import {
  type ReferenceOrigin,
  resolveSecretReference,
  SecretReferences,
} from '../secrets/secret-references.ts';
import { secretName } from '../secrets/secret-types.ts';
import type { SecretService } from '../secrets/secret-service.ts';
import type { Caller } from '../secrets/secret-types.ts';
import type { SecretValueService } from '../secrets/secret-value-service.ts';
import { parsePostgresTarget, type PostgresTarget } from '../targets/postgres-target.ts';
import type { DbConnection } from './database-types.ts';

/**
 * The admin credentials of database connections, held in Coffer secrets: who may name one (the
 * caller must be able to read it, so nobody acts with a credential they cannot read), and reading
 * it as the service when a credential is issued or revoked (audited as `secrets.get_value` by
 * `service:secretsmanager` on behalf of the caller). References work as a rotator's do
 * (secrets/secret-references.ts).
 */
export class AdminSecrets {
  readonly #references: SecretReferences;
  readonly #authorizer: Authorizer;

  constructor(deps: {
    authorizer: Authorizer;
    secrets: SecretService;
    values: SecretValueService;
    clock: Clock;
  }) {
    this.#references = new SecretReferences(deps);
    this.#authorizer = deps.authorizer;
  }

  /**
   * `permission_denied` unless `principal` holds `secrets.get_value` on the secret `ref` names,
   * then `invalid_argument` when it names no secret (only after the permission check, so a denied
   * caller learns nothing of what exists).
   */
  async requireAccess(
    principal: Principal,
    ref: string,
    location: ReferenceOrigin,
    field: string,
  ): Promise<void> {
    await this.#references.requireReadable(principal, ref, location, field);
  }

  /**
   * `permission_denied` unless `principal` holds `secrets.get_value` on the secret `ref` names,
   * whether or not it still exists (the current admin secret of a connection being switched away
   * from, which may be gone).
   */
  async requirePermission(
    principal: Principal,
    ref: string,
    location: ReferenceOrigin,
    field: string,
  ): Promise<void> {
    await this.#authorizer.check(
      principal,
      'secrets.get_value',
      secretName(resolveSecretReference(ref, location, field)),
    );
  }

  /**
   * The connection's admin target: its host, port, database and sslmode, with the username and
   * password of the admin secret's latest enabled value. `caller` is who the read is made for
   * (its `events` receive the audit events of the read, KMS ones included).
   */
  async adminTarget(connection: DbConnection, caller: Caller): Promise<PostgresTarget> {
    try {
      const read = await this.#references.readAsService(connection.adminSecret, connection, 'adminSecret', {
        requestId: caller.requestId,
        onBehalfOf: caller.principal,
        details: { database: connection.name },
        events: caller.events,
      });
      const admin = parsePostgresTarget(read.bytes, `The admin secret of database ${connection.name}`);
      return {
        ...admin,
        host: connection.host,
        port: connection.port,
        database: connection.database,
        sslmode: (connection.sslmode ?? admin.sslmode) as PostgresTarget['sslmode'],
      };
    } catch (err) {
      if (!(err instanceof CofferError) || err.kind === 'internal' || err.kind === 'unavailable') throw err;
      // The secret's own errors (missing, no enabled version, not connection JSON) never hold its value.
      throw new CofferError(
        'failed_precondition',
        `The admin secret of database ${connection.name} (${connection.adminSecret}) cannot be used: ${err.message}`,
      );
    }
  }
}
