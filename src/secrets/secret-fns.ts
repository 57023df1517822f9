import { errors } from '../core/errors.ts';
import {
  secretPathPattern as pathPattern,
  secretPathPrefixPattern as pathPrefixPattern,
} from '../core/secret-path.ts';

/** Largest secret value, in decoded bytes (SPEC §10). */
export const maxValueBytes = 64 * 1024;
/** Most labels per secret. */
export const maxLabels = 64;
/** Most stages per secret. */
export const maxStages = 20;

const stagePattern = /^[A-Za-z0-9_-]{1,64}$/;
const labelKeyPattern = /^[a-z][a-z0-9_-]{0,62}$/;

/**
 * Checks a secret path, the same rule on both faces (native and AWS) and in the agent
 * (core/secret-path.ts): 1–512 characters of AWS's secret-name characters `[A-Za-z0-9/_+=.@-]`, and
 * not exactly `.` or `..`. AWS names such as `/prod/db` or `a//b` are therefore valid paths.
 */
export function checkSecretPath(path: string): void {
  if (!pathPattern.test(path))
    throw errors.invalid(
      'A secret path (name) must be 1–512 characters of letters, digits and "/", "_", "+", "=", ".", "@", "-".',
    );
  if (path === '.' || path === '..') throw errors.invalid('A secret path (name) must not be "." or "..".');
}

/**
 * Whether some secret path could start with `prefix`: only path characters. A listing under any
 * other prefix is empty without asking the database (PostgreSQL refuses a NUL in a text parameter).
 */
export function canPrefixPath(prefix: string): boolean {
  return pathPrefixPattern.test(prefix);
}

/** Checks a stage name. */
export function checkStage(stage: string): void {
  if (!stagePattern.test(stage))
    throw errors.invalid(`Stage "${stage}" must be 1–64 letters, digits, "_" or "-".`);
}

/** Checks a labels or annotations map. */
export function checkLabels(labels: Readonly<Record<string, string>>, field: string): void {
  const keys = Object.keys(labels);
  if (keys.length > maxLabels) throw errors.invalid(`${field} has more than ${maxLabels} entries.`);
  for (const key of keys) {
    if (field === 'labels' && !labelKeyPattern.test(key))
      throw errors.invalid(`Label key "${key}" must be lowercase letters, digits, "_" or "-".`);
    const value = labels[key] ?? '';
    if (value.length > 256) throw errors.invalid(`${field}.${key} is longer than 256 characters.`);
    // Label values are JSON on PostgreSQL (the index of migration 0019), which has no NUL and no
    // unpaired surrogate: refused on both engines alike rather than failing there.
    if (field === 'labels' && /[\0\p{Cs}]/u.test(value))
      throw errors.invalid(`Label value ${key} must be text without NUL or unpaired surrogates.`);
  }
}

/** The additional data that binds a version's ciphertext and wrapped data key to the secret and version. */
export function versionContext(secretUid: string, version: number): string {
  return `secrets/${secretUid}/versions/${version}`;
}

/** A secret's `rotation` as given at create or patch: a period (schedule) and/or a rotator (JSON). */
export interface RotationInput {
  readonly periodSeconds?: number;
  readonly nextRotationTimeMs?: number;
  /** The rotator configuration, already validated by the rotation service. */
  readonly rotator?: string;
}

/** The rotation columns of a secret for `rotation` (null clears them), checked. */
export function rotationFields(
  rotation: RotationInput | null,
  nowMs: number,
): { rotationPeriodSeconds: number | null; nextRotationTimeMs: number | null; rotator: string | null } {
  if (rotation === null) return { rotationPeriodSeconds: null, nextRotationTimeMs: null, rotator: null };
  const period = rotation.periodSeconds;
  if (period === undefined && rotation.rotator === undefined)
    throw errors.invalid('rotation needs a period, a rotator, or both.');
  if (period !== undefined && period < 3600) throw errors.invalid('rotation.period must be at least 3600s.');
  if (period === undefined && rotation.nextRotationTimeMs !== undefined)
    throw errors.invalid('rotation.nextRotationTime needs a rotation.period.');
  return {
    rotationPeriodSeconds: period ?? null,
    nextRotationTimeMs: period === undefined ? null : (rotation.nextRotationTimeMs ?? nowMs + period * 1000),
    rotator: rotation.rotator ?? null,
  };
}
