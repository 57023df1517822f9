import type { Kysely } from 'kysely';
import type { Database } from '../schema.ts';
import type { Engine } from '../storage-types.ts';
import * as initial from './0001-initial.ts';
import * as kmsAndAudit from './0002-kms-and-audit.ts';
import * as iam from './0003-iam.ts';
import * as secrets from './0004-secrets.ts';
import * as auditResourceOrder from './0005-audit-resource-order.ts';
import * as idempotencyDigest from './0006-idempotency-digest.ts';
import * as rewrapIdentities from './0007-rewrap-identities.ts';
import * as auditCheckpointChain from './0008-audit-checkpoint-chain.ts';
import * as changeFeed from './0009-change-feed.ts';
import * as instanceNameUnique from './0010-instance-name-unique.ts';
import * as serviceAccountKeys from './0011-service-account-keys.ts';
import * as changeAudience from './0012-change-audience.ts';
import * as rotation from './0013-rotation.ts';
import * as databases from './0014-databases.ts';
import * as dbRoleAdminSecret from './0015-db-role-admin-secret.ts';
import * as awsAccessKeys from './0016-aws-access-keys.ts';
import * as secretAttributes from './0017-secret-attributes.ts';
import * as kmsAws from './0018-kms-aws.ts';
import * as secretsListIndex from './0019-secrets-list-index.ts';
import * as auditRecords from './0020-audit-records.ts';

/** One schema change. `up` runs inside the migration transaction, on either engine. */
export interface Migration {
  /** Stable id, recorded in `coffer_migrations`; never rename one that has shipped. */
  readonly id: string;
  /** Applies the change. */
  up(db: Kysely<Database>, engine: Engine): Promise<void>;
}

/** Every migration, in the order they apply. Append only. */
export const migrations: readonly Migration[] = [
  { id: '0001-initial', up: initial.up },
  { id: '0002-kms-and-audit', up: kmsAndAudit.up },
  { id: '0003-iam', up: iam.up },
  { id: '0004-secrets', up: secrets.up },
  { id: '0005-audit-resource-order', up: auditResourceOrder.up },
  { id: '0006-idempotency-digest', up: idempotencyDigest.up },
  { id: '0007-rewrap-identities', up: rewrapIdentities.up },
  { id: '0008-audit-checkpoint-chain', up: auditCheckpointChain.up },
  { id: '0009-change-feed', up: changeFeed.up },
  { id: '0010-instance-name-unique', up: instanceNameUnique.up },
  { id: '0011-service-account-keys', up: serviceAccountKeys.up },
  { id: '0012-change-audience', up: changeAudience.up },
  { id: '0013-rotation', up: rotation.up },
  { id: '0014-databases', up: databases.up },
  { id: '0015-db-role-admin-secret', up: dbRoleAdminSecret.up },
  { id: '0016-aws-access-keys', up: awsAccessKeys.up },
  { id: '0017-secret-attributes', up: secretAttributes.up },
  { id: '0018-kms-aws', up: kmsAws.up },
  { id: '0019-secrets-list-index', up: secretsListIndex.up },
  { id: '0020-audit-records', up: auditRecords.up },
];
