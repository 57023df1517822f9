import type { ReactNode } from 'react';
import { Link, path } from '../router.tsx';

/** The console page of a key from its resource name (`projects/…/keyrings/…/keys/…`), or null. */
export function keyPagePath(identity: string | null | undefined): string | null {
  if (!identity) return null;
  const m = /^projects\/([^/]+)\/regions\/([^/]+)\/keyrings\/([^/]+)\/keys\/([^/]+)$/.exec(identity);
  if (!m) return null;
  try {
    // Each part encoded as one segment (path refuses "." and "..").
    return path('projects', m[1]!, 'regions', m[2]!, 'keyrings', m[3]!, 'keys', m[4]!);
  } catch {
    return null;
  }
}

/**
 * Seed 000's warning: shown whenever the bound key (or an instance's kmsKey) is not `active`,
 * with the key's state and a link to the key. Renders nothing for an active key.
 */
export function KeyStateBanner(props: {
  /** The key's state (`active`, `disabled`, …); null when unknown (nothing is shown). */
  readonly state: string | null;
  /** The key's resource name, for the link. */
  readonly keyName: string | null;
  /** What depends on it ("This secret", "This instance"). */
  readonly subject?: string;
  /** On the key's own page: the warning speaks of the key and of what uses it. */
  readonly ownKey?: boolean;
}): ReactNode {
  if (props.state === null || props.state === 'active') return null;
  const link = keyPagePath(props.keyName);
  const state = props.state;
  return (
    <div className="banner warning" role="alert" data-testid="key-state-banner">
      {props.ownKey ? (
        <p>
          <strong>
            This key is <span className="state">{state.replaceAll('_', ' ')}</span>
          </strong>
          : value reads and writes of the secrets and instances that use it fail with 400 until the key is
          enabled.
        </p>
      ) : (
        <p>
          <strong>
            {props.subject ?? 'This resource'}'s KMS key is{' '}
            <span className="state">{state.replaceAll('_', ' ')}</span>
          </strong>
          : value reads and writes fail with 400 until the key is enabled.
        </p>
      )}
      {link ? (
        <p>
          <Link to={link}>Open the key {props.keyName}</Link>
        </p>
      ) : (
        props.keyName && <p className="mono small">{props.keyName}</p>
      )}
    </div>
  );
}
