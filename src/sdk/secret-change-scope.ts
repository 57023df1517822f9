import type { ChangeEvent } from './change-event-parser.ts';
import type { InstanceRef } from './sdk-types.ts';

/** What one change of the feed means for the values cached from one instance. */
export type SecretChangeScope =
  /** The values of this secret (every version and stage) may have changed: re-read them. */
  | { readonly kind: 'secret'; readonly path: string }
  /** Any value may have changed or become unreadable (access, the instance's key): re-read on use. */
  | { readonly kind: 'all' }
  | { readonly kind: 'none' };

// Key states that make the values a key protects unreadable (docs/changes.md types).
const keyLossSuffixes = ['.disabled', '.destroyed', '.destroy_scheduled', '.deletion_scheduled'];

/**
 * Maps a change to the cached values it concerns: a change on a secret of the instance
 * (`…/instances/{i}/secrets/{URL-encoded path}`, or below it) concerns that secret; one on the
 * instance or an ancestor (a key switch, an IAM policy on the instance or the project), or a key of
 * the instance's region losing its use, concerns them all.
 */
export function secretChangeScope(instance: InstanceRef, change: ChangeEvent): SecretChangeScope {
  const region = `projects/${instance.projectId}/regions/${instance.regionId}`;
  const name = `${region}/instances/${instance.instanceId}`;
  const { resource } = change;
  const secretsPrefix = `${name}/secrets/`;
  if (resource.startsWith(secretsPrefix)) {
    const segment = resource.slice(secretsPrefix.length).split('/')[0] ?? '';
    try {
      return { kind: 'secret', path: decodeURIComponent(segment) };
    } catch {
      return { kind: 'all' };
    }
  }
  if (resource === name || name.startsWith(`${resource}/`)) return { kind: 'all' };
  if (
    resource.startsWith(`${region}/`) &&
    (change.type.startsWith('key.') || change.type.startsWith('key_version.')) &&
    keyLossSuffixes.some((suffix) => change.type.endsWith(suffix))
  )
    return { kind: 'all' };
  return { kind: 'none' };
}
