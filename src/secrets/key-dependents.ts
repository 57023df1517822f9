import type { Kysely } from 'kysely';
import { readKmsHeader } from '../crypto/kms-ciphertext.ts';
import type { Visibility, VersionDependents } from '../kms/key-version-lifecycle.ts';
import type { CryptoKey } from '../kms/kms-types.ts';
import type { Database } from '../storage/schema.ts';
import { type InstanceKmsKey, secretName } from './secret-types.ts';

/** A key's dependents as one caller may see them (`GET …/keys/{key}/dependents`). */
export interface KeyDependentsView {
  /** Full names of the bound secrets the caller may read (`secrets.secrets.get`). */
  readonly secrets: string[];
  /** Full names of the instances using the key that the caller may read (`secrets.instances.get`). */
  readonly instances: string[];
  /** How many secrets are bound to the key, named or not. */
  readonly secretCount: number;
  /** How many instances use the key, named or not. */
  readonly instanceCount: number;
}

/** Most names a listing checks and returns; beyond it, only counts. */
const maxNamed = 1000;

const instanceName = (i: { project_id: string; region_id: string; id: string }) =>
  `projects/${i.project_id}/regions/${i.region_id}/instances/${i.id}`;

/**
 * What depends on a KMS key or one of its versions, for the dependents listing and the guards on
 * disabling, deleting and destroying. Names are given only to a caller allowed to read the secret or
 * instance (a key viewer learns counts, not the paths of other teams' secrets).
 */
export class KeyDependents {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** Secrets bound explicitly to the key, and instances using it. */
  async ofKey(key: CryptoKey, canSee: Visibility): Promise<KeyDependentsView> {
    const secrets = await this.#db
      .selectFrom('sm_secrets')
      .select(['project_id', 'region_id', 'instance_id', 'path'])
      .where('kms_key_uid', '=', key.uid)
      .execute();
    const instances = await this.#db
      .selectFrom('sm_instances')
      .select(['project_id', 'region_id', 'id'])
      .where('kms_key_uid', '=', key.uid)
      .execute();
    const secretNames = secrets.map((s) =>
      secretName({ projectId: s.project_id, regionId: s.region_id, instanceId: s.instance_id, path: s.path }),
    );
    return {
      secrets: await visible(secretNames, 'secrets.secrets.get', canSee),
      instances: await visible(instances.map(instanceName), 'secrets.instances.get', canSee),
      secretCount: secrets.length,
      instanceCount: instances.length,
    };
  }

  /** Live secret versions whose data key `version` of the key wraps, and instances configured with it. */
  async ofKeyVersion(key: CryptoKey, version: number, canSee: Visibility): Promise<VersionDependents> {
    const rows = await this.#db
      .selectFrom('sm_versions')
      .innerJoin('sm_secrets', 'sm_secrets.uid', 'sm_versions.secret_uid')
      .select([
        'sm_versions.wrapped_key',
        'sm_secrets.uid',
        'sm_secrets.project_id',
        'sm_secrets.region_id',
        'sm_secrets.instance_id',
        'sm_secrets.path',
      ])
      .where('sm_versions.wrap_key_uid', '=', key.uid)
      .where('sm_versions.state', '!=', 'destroyed')
      .execute();
    const secrets = new Map<string, string>();
    let secretVersionCount = 0;
    for (const row of rows) {
      if (row.wrapped_key === null || wrappingVersion(row.wrapped_key) !== version) continue;
      secretVersionCount++;
      secrets.set(
        row.uid,
        secretName({
          projectId: row.project_id,
          regionId: row.region_id,
          instanceId: row.instance_id,
          path: row.path,
        }),
      );
    }
    const instances = (
      await this.#db
        .selectFrom('sm_instances')
        .select(['project_id', 'region_id', 'id', 'kms_key'])
        .where('kms_key_uid', '=', key.uid)
        .execute()
    ).filter((i) => i.kms_key !== null && (JSON.parse(i.kms_key) as InstanceKmsKey).keyVersion === version);
    return {
      secretVersionCount,
      secretCount: secrets.size,
      instanceCount: instances.length,
      visibleNames: [
        ...(await visible([...secrets.values()], 'secrets.secrets.get', canSee)),
        ...(await visible(instances.map(instanceName), 'secrets.instances.get', canSee)),
      ],
    };
  }
}

/** The key version a wrapped data key names, or undefined when it is not a KMS ciphertext. */
function wrappingVersion(wrappedKey: Uint8Array): number | undefined {
  try {
    return readKmsHeader(wrappedKey).keyVersion;
  } catch {
    return undefined;
  }
}

async function visible(
  names: readonly string[],
  permission: 'secrets.secrets.get' | 'secrets.instances.get',
  canSee: Visibility,
): Promise<string[]> {
  const shown: string[] = [];
  for (const name of names.slice(0, maxNamed)) if (await canSee(permission, name)) shown.push(name);
  return shown;
}
