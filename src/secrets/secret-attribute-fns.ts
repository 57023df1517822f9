import { createHash, randomInt } from 'node:crypto';
import { errors } from '../core/errors.ts';
import type { Secret, SecretTag } from './secret-types.ts';

/** Most tags per secret (AWS's limit). */
export const maxTags = 50;
/** Longest description (AWS's limit). */
export const maxDescriptionLength = 2048;

const suffixAlphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Six random characters for the end of a new secret's ARN (AWS's `-AbCdEf`). */
export function newArnSuffix(): string {
  let out = '';
  for (let i = 0; i < 6; i++) out += suffixAlphabet[randomInt(suffixAlphabet.length)];
  return out;
}

/** A secret's ARN suffix: the stored one, or one derived from its uid (secrets made before 0017). */
export function arnSuffixOf(secret: Pick<Secret, 'uid' | 'arnSuffix'>): string {
  if (secret.arnSuffix) return secret.arnSuffix;
  const digest = createHash('sha256').update(`arn-suffix:${secret.uid}`).digest();
  let out = '';
  for (let i = 0; i < 6; i++) out += suffixAlphabet[digest[i]! % suffixAlphabet.length];
  return out;
}

/** Checks a description: at most 2048 characters. */
export function checkDescription(description: string): void {
  if (description.length > maxDescriptionLength)
    throw errors.invalid(`A description is at most ${maxDescriptionLength} characters.`);
}

const tagPattern = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

/** Checks tags as AWS does: keys 1–128 and values 0–256 characters of letters, digits, spaces and `_.:/=+-@`. */
export function checkTags(tags: readonly SecretTag[]): void {
  for (const tag of tags) {
    if (tag.key.length < 1 || tag.key.length > 128 || !tagPattern.test(tag.key))
      throw errors.invalid('A tag key is 1–128 letters, digits, spaces or "_.:/=+-@".');
    if (tag.key.toLowerCase().startsWith('aws:'))
      throw errors.invalid('Tag keys starting with "aws:" are reserved.');
    if (tag.value.length > 256 || !tagPattern.test(tag.value))
      throw errors.invalid('A tag value is 0–256 letters, digits, spaces or "_.:/=+-@".');
  }
}

/** `tags` with `added` applied: a key already there takes the new value; at most 50 tags. */
export function mergeTags(tags: readonly SecretTag[], added: readonly SecretTag[]): SecretTag[] {
  checkTags(added);
  const merged = new Map(tags.map((t) => [t.key, t.value]));
  for (const tag of added) merged.set(tag.key, tag.value);
  if (merged.size > maxTags) throw errors.invalid(`A secret has at most ${maxTags} tags.`);
  return [...merged].map(([key, value]) => ({ key, value }));
}

/** `tags` without the keys `removed` (absent keys are ignored, as AWS does). */
export function removeTags(tags: readonly SecretTag[], removed: readonly string[]): SecretTag[] {
  const gone = new Set(removed);
  return tags.filter((t) => !gone.has(t.key));
}

const uuidLike = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The first 20 hex digits that tie a derived version id to its secret. */
function secretPrefix(secretUid: string): string {
  return createHash('sha256').update(`version-id:${secretUid}`).digest('hex').slice(0, 20);
}

/**
 * The version id (AWS's `VersionId`) of a version made without a client token (a native put): a
 * UUID-shaped string tied to the secret, whose last 12 hex digits are the version number, so it
 * maps back without storage. Versions made with a token (AWS's ClientRequestToken) use the token.
 */
export function derivedVersionId(secretUid: string, version: number): string {
  const p = secretPrefix(secretUid);
  const n = version.toString(16).padStart(12, '0');
  return `${p.slice(0, 8)}-${p.slice(8, 12)}-${p.slice(12, 16)}-${p.slice(16, 20)}-${n}`;
}

/** The version number a derived version id names for this secret, or undefined. */
export function versionOfDerivedId(secretUid: string, id: string): number | undefined {
  if (!uuidLike.test(id)) return undefined;
  if (id.slice(0, 23).replaceAll('-', '') !== secretPrefix(secretUid)) return undefined;
  const version = Number.parseInt(id.slice(24), 16);
  return version >= 1 ? version : undefined;
}

/** Whether an idempotency key may serve as a version id (AWS's ClientRequestToken: 32–64 characters). */
export function isVersionToken(key: string): boolean {
  return key.length >= 32 && key.length <= 64;
}
