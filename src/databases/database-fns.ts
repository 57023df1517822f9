import { randomInt } from 'node:crypto';
import { maxDurationSeconds, parseDurationSeconds } from '../core/durations.ts';
import { errors } from '../core/errors.ts';
import { renderStatements } from '../targets/postgres-target.ts';
import type { DatabaseLocation } from './database-types.ts';

/** Names of database connections and roles: lowercase letters, digits and hyphens, at most 63. */
export const resourceIdPattern = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** `invalid_argument` unless `id` is a valid database or role name. */
export function checkResourceId(id: string, what: string): void {
  if (!resourceIdPattern.test(id))
    throw errors.invalid(
      `${what} must be 1 to 63 lowercase letters, digits or hyphens, starting and ending with a letter or digit.`,
    );
}

const unitSeconds: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * Parses a TTL: a duration as everywhere else in the API (`"3600s"`, whole seconds), or with a
 * unit as Vault writes it (`"90s"`, `"15m"`, `"1h"`, `"7d"`). Whole seconds, at least 1; anything
 * else (0, negative or fractional numbers, other strings) is `invalid_argument` saying so.
 */
export function parseTtlSeconds(input: string | number, field: string): number {
  const message = `${field} must be a duration like 3600s, 15m or 1h (or whole seconds, at least 1), at most ${maxDurationSeconds}s.`;
  const match = typeof input === 'string' ? /^(\d{1,9})([mhd])$/.exec(input) : null;
  let seconds: number;
  try {
    seconds = match ? Number(match[1]) * unitSeconds[match[2]!]! : parseDurationSeconds(input, field);
  } catch {
    throw errors.invalid(message);
  }
  if (seconds < 1 || seconds > maxDurationSeconds) throw errors.invalid(message);
  return seconds;
}

/** The most statements a role may have, per list. */
export const maxStatements = 20;
/** The longest statement template, in bytes. */
export const maxStatementBytes = 4096;

/**
 * Checks statement templates: 1 to 20, each non-empty and at most 4 KiB, naming no placeholder but
 * `{{name}}`, `{{password}}` and `{{expiration}}` — only `{{name}}` in revocation statements, which
 * run without a password or an expiry — rendered once with dummy values to prove it.
 */
export function checkStatements(
  statements: readonly string[],
  field: 'creationStatements' | 'revocationStatements',
): void {
  if (statements.length < 1 || statements.length > maxStatements)
    throw errors.invalid(`${field} must hold 1 to ${maxStatements} statements.`);
  const allowed = field === 'creationStatements' ? 'name|password|expiration' : 'name';
  const stray = new RegExp(`\\{\\{(?!\\s*(?:${allowed})\\s*\\}\\})`);
  for (const statement of statements) {
    if (statement.trim().length === 0) throw errors.invalid(`${field} holds an empty statement.`);
    // PostgreSQL's protocol cannot carry a NUL byte: such a statement would only fail at issue.
    if (statement.includes('\0')) throw errors.invalid(`${field} holds a NUL byte.`);
    if (Buffer.byteLength(statement) > maxStatementBytes)
      throw errors.invalid(`Each statement of ${field} must be at most ${maxStatementBytes} bytes.`);
    if (stray.test(statement))
      throw errors.invalid(
        field === 'creationStatements'
          ? `${field}: the only placeholders are {{name}}, {{password}} and {{expiration}}.`
          : `${field}: the only placeholder is {{name}}.`,
      );
  }
  renderStatements(
    statements,
    field === 'creationStatements'
      ? { name: 'v-check', password: 'check', expiration: '2000-01-01T00:00:00Z' }
      : { name: 'v-check' },
  );
}

const lowerAlnum = 'abcdefghijklmnopqrstuvwxyz0123456789';
const passwordChars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const base32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** `length` characters of `alphabet`, each drawn uniformly (crypto.randomInt: no modulo bias). */
export function randomString(alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/**
 * A username for an issued credential: `v-{role, cut to 16}-{10 random lowercase letters or
 * digits}`: at most 29 bytes (PostgreSQL allows 63), unique in practice (36^10), and traceable to
 * its lease and principal through the lease row.
 */
export function newUsername(roleName: string): string {
  return `v-${roleName.slice(0, 16)}-${randomString(lowerAlnum, 10)}`;
}

/** A password for an issued credential: 32 letters and digits (≈190 bits). */
export function newPassword(): string {
  return randomString(passwordChars, 32);
}

/** A lease id: `l-` and 26 random base32 characters (130 bits, unguessable). */
export function newLeaseId(): string {
  return `l-${randomString(base32, 26)}`;
}

/** The full resource name of a database connection. */
export function databaseName(location: DatabaseLocation, name: string): string {
  return `projects/${location.projectId}/regions/${location.regionId}/instances/${location.instanceId}/databases/${name}`;
}

/** The full resource name of a database role. */
export function databaseRoleName(location: DatabaseLocation, database: string, role: string): string {
  return `${databaseName(location, database)}/roles/${role}`;
}

/** The full resource name of a lease. */
export function leaseName(
  lease: DatabaseLocation & { databaseName: string; roleName: string; id: string },
): string {
  return `${databaseRoleName(lease, lease.databaseName, lease.roleName)}/leases/${lease.id}`;
}
