/** A secret the agent reads: a path in an instance, and which version (latest, a number, or a stage). */
export interface SecretReference {
  readonly regionId: string;
  readonly instanceId: string;
  readonly path: string;
  /** A version number, `latest`, or undefined (latest unless a stage is named). */
  readonly version: number | 'latest' | undefined;
  readonly stage: string | undefined;
}

const pathPattern = /^[A-Za-z0-9._/-]{1,512}$/;

/** Checks a secret path as the server does (SPEC §3): no empty, `.` or `..` segment, no outer `/`. */
export function checkSecretPath(path: string): void {
  if (
    !pathPattern.test(path) ||
    path.startsWith('/') ||
    path.endsWith('/') ||
    path.split('/').some((part) => part === '' || part === '.' || part === '..')
  )
    throw new Error(
      `"${path}" is not a secret path (1–512 of A-Z a-z 0-9 . _ / -, no empty, . or .. segment)`,
    );
}

/**
 * Parses a reference as templates and exec.env write it: `PATH` (latest), `PATH@7` (version 7),
 * `PATH@latest`, or `PATH#STAGE` (the version a stage points at). Paths never hold `@` or `#`.
 */
export function parseSecretReference(text: string): Pick<SecretReference, 'path' | 'version' | 'stage'> {
  const stageAt = text.indexOf('#');
  const versionAt = text.indexOf('@');
  if (stageAt >= 0 && versionAt >= 0) throw new Error(`"${text}" names both a version and a stage`);
  if (stageAt >= 0) {
    const stage = text.slice(stageAt + 1);
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(stage)) throw new Error(`"${text}" names no valid stage after #`);
    checkSecretPath(text.slice(0, stageAt));
    return { path: text.slice(0, stageAt), version: undefined, stage };
  }
  if (versionAt >= 0) {
    const version = text.slice(versionAt + 1);
    if (version !== 'latest' && !/^[1-9]\d{0,9}$/.test(version))
      throw new Error(`"${text}" names no version after @ (a number or latest)`);
    checkSecretPath(text.slice(0, versionAt));
    return {
      path: text.slice(0, versionAt),
      version: version === 'latest' ? 'latest' : Number(version),
      stage: undefined,
    };
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
  return ref.path;
}
