import { randomUUID } from 'node:crypto';

/** A branded string so that ids of different resources cannot be mixed up. */
export type Brand<T, B extends string> = T & { readonly __brand: B };

/** A project's UUID. */
export type ProjectId = Brand<string, 'ProjectId'>;

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A new random (v4) UUID, lowercase. */
export function newUuid(): string {
  return randomUUID();
}

/** True when `value` is a UUID in canonical lowercase form (any version, as Google's KMS ids allow). */
export function isUuid(value: string): boolean {
  return uuidPattern.test(value);
}

/** The regular expression source used in API schemas for UUIDs. */
export const uuidPatternSource = uuidPattern.source;
