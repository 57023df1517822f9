import type { Clock } from '../core/clock.ts';
import { CofferError, errors } from '../core/errors.ts';
import type { Permission } from '../iam/permissions.ts';
import { type Storage, type WriteStatement, WriteRejected } from '../storage/storage-types.ts';
import { dayMs, nextVersionState, type VersionAction } from './kms-fns.ts';
import { keyChange } from './kms-changes.ts';
import type { KmsRepo } from './kms-repo.ts';
import type { CryptoKey, KeyVersion } from './kms-types.ts';

/** Whether the caller holds `permission` on `resource`: what a dependents listing may name to it. */
export type Visibility = (permission: Permission, resource: string) => Promise<boolean>;

/** What depends on one key version, named only as far as the caller may see. */
export interface VersionDependents {
  /** Live (not destroyed) secret versions whose data key the key version wraps. */
  readonly secretVersionCount: number;
  /** The secrets those versions belong to. */
  readonly secretCount: number;
  /** Instances configured to encrypt with this key version. */
  readonly instanceCount: number;
  /** Full names of those secrets and instances that the caller may see. */
  readonly visibleNames: readonly string[];
}

/** Finds what depends on a key version; supplied by Secrets Manager. */
export type VersionDependentsFinder = (
  key: CryptoKey,
  version: number,
  canSee: Visibility,
) => Promise<VersionDependents>;

/** Options of a version state change. */
export interface VersionChangeOptions {
  /** Destroy a version that secrets depend on: its destruction is scheduled, not immediate. */
  readonly force?: boolean;
  /** The window of a scheduled destruction, 7 to 30 days (default 30), as a key's deletion. */
  readonly pendingWindowDays?: number;
  /** What the caller may see, to name dependents in a refusal (nothing is named without it). */
  readonly canSee?: Visibility;
}

const nobodySees: Visibility = async () => false;
const maxNamesInMessage = 20;

/**
 * Enable, disable, destroy and restore of key versions (SPEC §5). A destroy of a version that live
 * secret versions (or an instance's configured key version) depend on is refused (`conflict`) unless
 * forced; forced, it is scheduled like a key deletion (`destroy_scheduled` until `destroyTimeMs`,
 * Google's DESTROY_SCHEDULED), the version is unusable meanwhile and `restore` makes it `disabled`.
 * A version nothing depends on is destroyed at once, as before.
 */
export class KeyVersionLifecycle {
  readonly #storage: Storage;
  readonly #repo: KmsRepo;
  readonly #clock: Clock;
  #dependents: VersionDependentsFinder = async () => ({
    secretVersionCount: 0,
    secretCount: 0,
    instanceCount: 0,
    visibleNames: [],
  });

  constructor(storage: Storage, repo: KmsRepo, clock: Clock) {
    this.#storage = storage;
    this.#repo = repo;
    this.#clock = clock;
  }

  /** Installs the dependents finder (Secrets Manager does, once it exists). */
  setDependentsFinder(finder: VersionDependentsFinder): void {
    this.#dependents = finder;
  }

  /** Applies `action` to `version` of `key`; the primary version cannot be destroyed. */
  async change(
    key: CryptoKey,
    version: KeyVersion,
    action: VersionAction,
    options: VersionChangeOptions = {},
  ): Promise<KeyVersion> {
    const days = options.pendingWindowDays ?? 30;
    if (!Number.isInteger(days) || days < 7 || days > 30) {
      throw errors.invalid('pendingWindowDays must be a whole number from 7 to 30.');
    }
    const state = nextVersionState(version.state, action);
    if (action === 'destroy' && version.version === key.primaryVersion && state !== version.state) {
      throw new CofferError(
        'failed_precondition',
        'The primary version cannot be destroyed; rotate the key first.',
      );
    }
    if (state === version.state) return version;
    const now = this.#clock.nowMs();
    const n = version.version;
    const changed = (type: string) => keyChange(this.#storage.db, type, key, now, n);
    if (action === 'restore') {
      await this.#write(this.#repo.restoreVersion(key.uid, n), changed('key_version.restored'));
      return { ...version, state, destroyTimeMs: null };
    }
    if (action !== 'destroy') {
      await this.#write(
        this.#repo.setVersionState(key.uid, n, version.state, state),
        changed(state === 'enabled' ? 'key_version.enabled' : 'key_version.disabled'),
      );
      return { ...version, state };
    }
    const dependents = await this.#dependents(key, n, options.canSee ?? nobodySees);
    if (dependents.secretVersionCount + dependents.instanceCount > 0) {
      if (!options.force) throw new CofferError('conflict', refusal(n, dependents));
      const destroyTimeMs = now + days * dayMs;
      await this.#write(
        this.#repo.scheduleVersionDestruction(key.uid, n, version.state, destroyTimeMs),
        changed('key_version.destroy_scheduled'),
      );
      return { ...version, state: 'destroy_scheduled', destroyTimeMs };
    }
    await this.#write(this.#repo.destroyVersion(key.uid, n, now), changed('key_version.destroyed'));
    return { ...version, state: 'destroyed', hasMaterial: false, destroyTimeMs: now };
  }

  /**
   * Erases the versions whose scheduled destruction is due. `record` runs each change with its audit
   * event; a version restored (or erased by another node) meanwhile is skipped (compare-and-set).
   */
  async runDue(
    record: (key: CryptoKey, version: number, change: () => Promise<void>) => Promise<void>,
  ): Promise<void> {
    const now = this.#clock.nowMs();
    for (const due of await this.#repo.versionsDueForDestruction(now, 100)) {
      const key = await this.#repo.findKeyByUid(due.keyUid);
      if (!key) continue;
      try {
        await record(key, due.version, async () => {
          await this.#storage.write([
            this.#repo.destroyVersion(key.uid, due.version, now, 'destroy_scheduled'),
            keyChange(this.#storage.db, 'key_version.destroyed', key, now, due.version),
          ]);
        });
      } catch (err) {
        if (!(err instanceof WriteRejected)) throw err;
      }
    }
  }

  async #write(statement: WriteStatement, change: WriteStatement): Promise<void> {
    try {
      await this.#storage.write([statement, change]);
    } catch (err) {
      if (err instanceof WriteRejected)
        throw errors.conflict('The key version was changed concurrently; retry.');
      throw err;
    }
  }
}

/** The `conflict` message: what depends on the version, naming only what the caller may see. */
function refusal(version: number, dependents: VersionDependents): string {
  const parts: string[] = [];
  if (dependents.secretVersionCount > 0) {
    parts.push(
      `it wraps the data keys of ${dependents.secretVersionCount} live secret version(s) in ${dependents.secretCount} secret(s)`,
    );
  }
  if (dependents.instanceCount > 0) {
    parts.push(`${dependents.instanceCount} instance(s) are configured to encrypt with it`);
  }
  const shown = dependents.visibleNames.slice(0, maxNamesInMessage);
  const unnamed = dependents.secretCount + dependents.instanceCount - shown.length;
  const names =
    shown.length === 0
      ? ''
      : ` (${shown.join(', ')}${unnamed > 0 ? ` and ${unnamed} more not named here` : ''})`;
  return (
    `Key version ${version} has dependents: ${parts.join('; ')}${names}. Rewrap or destroy them first, ` +
    'or repeat with ?force=true to schedule its destruction after a window (pendingWindowDays, 30 by default).'
  );
}
