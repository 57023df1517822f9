import { isSecretPath, secretPathRule } from '../core/secret-path.ts';

/** A secret the agent reads: a path in an instance, and which version (latest, a number, or a stage). */
export interface SecretReference {
  readonly regionId: string;
  readonly instanceId: string;
  readonly path: string;
  /** A version number, `latest`, or undefined (latest unless a stage is named). */
  readonly version: number | 'latest' | undefined;
  readonly stage: string | undefined;
}

/** Checks a secret path with the server's rule (core/secret-path.ts), before anything is asked. */
export function checkSecretPath(path: string): void {
  if (!isSecretPath(path)) throw new Error(`"${path}" is not a secret path (${secretPathRule}, not . or ..)`);
}

const versionPattern = /^(?:latest|[1-9]\d{0,9})$/;
const stagePattern = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Parses a reference as templates and exec.env write it: `PATH` (latest), `PATH@7` (version 7),
 * `PATH@latest`, or `PATH#STAGE` (the version a stage points at). Paths may hold `@` (AWS names such
 * as `user@example.com/token`) but never `#`: a stage follows the `#`; otherwise the text after the
 * last `@` is a version only when it is a number or `latest`, and else part of the path. So a path
 * that itself ends in `@7` is referred to as `PATH@7@latest`.
 */
export function parseSecretReference(text: string): Pick<SecretReference, 'path' | 'version' | 'stage'> {
  const stageAt = text.indexOf('#');
  if (stageAt >= 0) {
    const stage = text.slice(stageAt + 1);
    if (!stagePattern.test(stage)) throw new Error(`"${text}" names no valid stage after #`);
    const path = text.slice(0, stageAt);
    checkSecretPath(path);
    return { path, version: undefined, stage };
  }
  const versionAt = text.lastIndexOf('@');
  const version = versionAt >= 0 ? text.slice(versionAt + 1) : '';
  if (versionAt >= 0 && versionPattern.test(version)) {
    const path = text.slice(0, versionAt);
    checkSecretPath(path);
    return { path, version: version === 'latest' ? 'latest' : Number(version), stage: undefined };
  }
  checkSecretPath(text);
  return { path: text, version: undefined, stage: undefined };
}

/** The cache key of a reference: one entry per (region, instance, path, version, stage). */
export function referenceKey(ref: SecretReference): string {
  const version = ref.version === 'latest' ? '' : (ref.version ?? '');
  return `${ref.regionId}\u0000${ref.instanceId}\u0000${ref.path}\u0000${version}\u0000${ref.stage ?? ''}`;
}

/** A reference for humans and logs (never a value): `PATH`, `PATH@7`, `PATH#STAGE`. */
export function describeReference(ref: Pick<SecretReference, 'path' | 'version' | 'stage'>): string {
  if (ref.stage !== undefined) return `${ref.path}#${ref.stage}`;
  if (typeof ref.version === 'number') return `${ref.path}@${ref.version}`;
  // A path that ends like a version (`key@7`) reads back as itself only with an explicit `@latest`.
  return /@(?:latest|[1-9]\d{0,9})$/.test(ref.path) ? `${ref.path}@latest` : ref.path;
}
