import { Type } from '@sinclair/typebox';
import type { App } from '../../app/app.ts';
import type { Instance, Secret } from '../../secrets/secret-types.ts';
import { AwsError } from '../aws-errors.ts';
import type { AwsCall } from '../aws-operation.ts';
import { locationOf } from './sm-scope.ts';

/** AWS's Filter shape (ListSecrets, BatchGetSecretValue). */
export const FilterShape = Type.Object({
  Key: Type.Optional(
    Type.Union(
      ['description', 'name', 'tag-key', 'tag-value', 'primary-region', 'owning-service', 'all'].map((k) =>
        Type.Literal(k),
      ),
    ),
  ),
  Values: Type.Optional(
    Type.Array(Type.String({ maxLength: 512, pattern: '^\\!?[a-zA-Z0-9 :_@\\/\\+\\=\\.\\-\\!]*$' }), {
      minItems: 1,
      maxItems: 10,
    }),
  ),
});
/** One filter of a request. */
export type Filter = { Key?: string | undefined; Values?: string[] | undefined };

const separators = ['/', '-', '_', '+', '=', '.', '@'];

/** Splits at upper-case letters, digits, spaces and punctuation before lower-case runs (`MyTest` → My, Test). */
function splitByCase(text: string): string[] {
  return text
    .split(/([^a-z][a-z]+)/)
    .filter((part) => part !== '')
    .map((part) => part.trim());
}

/**
 * Words as Secrets Manager splits a value for the word filters (description, all): at one kind of
 * separator (`/-_+=.@`; a value with two kinds is one word), then at case changes.
 */
function wordsOf(text: string): string[] {
  if (separators.includes(text)) return [];
  const used = separators.filter((c) => text.includes(c));
  if (used.length > 1) return [text];
  return (used.length === 1 ? text.split(used[0]!) : [text]).flatMap(splitByCase);
}

/**
 * Whether `pattern` matches `value`: a prefix (case-sensitive) for name and tag filters; for the
 * word filters, every word of the pattern begins a word of the value, case aside.
 */
function matchesPattern(pattern: string, value: string, words: boolean): boolean {
  if (!words) return value.startsWith(pattern);
  const wanted = wordsOf(pattern).map((w) => w.toLowerCase());
  if (wanted.length === 0) return false;
  const have = wordsOf(value).map((w) => w.toLowerCase());
  return wanted.every((w) => have.some((h) => h.startsWith(w)));
}

/** The strings a filter key searches in a secret, and whether it matches words. */
function searched(secret: Secret, key: string): { strings: string[]; words: boolean } {
  const tags = secret.tags ?? [];
  switch (key) {
    case 'name':
      return { strings: [secret.path], words: false };
    // The API reference says prefix match, but Secrets Manager matches words (as `all`), case aside.
    case 'description':
      return { strings: secret.description ? [secret.description] : [], words: true };
    case 'tag-key':
      return { strings: tags.map((t) => t.key), words: false };
    case 'tag-value':
      return { strings: tags.map((t) => t.value), words: false };
    case 'all':
      return {
        strings: [
          secret.path,
          ...(secret.description ? [secret.description] : []),
          ...tags.map((t) => t.key),
          ...tags.map((t) => t.value),
        ],
        words: true,
      };
    default:
      // primary-region, owning-service: Coffer's secrets are neither replicated nor owned by a service.
      return { strings: [], words: false };
  }
}

/** AWS's answers to a filter without Key or without Values (InvalidParameterException). */
export function checkFilters(filters: readonly Filter[]): void {
  for (const filter of filters) {
    if (filter.Key === undefined) throw new AwsError('InvalidParameterException', 'Invalid filter key');
    if (filter.Values === undefined)
      throw new AwsError('InvalidParameterException', `Invalid filter values for key: ${filter.Key}`);
  }
}

/**
 * Whether `secret` passes every filter (filters AND together). Within a filter the values OR
 * together: a value matches when one of the searched strings matches it, a negated value (`!x`)
 * when one of them does not match `x`; a secret with nothing to search (no tags, no description)
 * matches no value of that filter.
 */
export function matchesFilters(secret: Secret, filters: readonly Filter[]): boolean {
  return filters.every((filter) => {
    const { strings, words } = searched(secret, filter.Key ?? 'all');
    return (filter.Values ?? []).some((value) =>
      value.startsWith('!')
        ? strings.some((s) => !matchesPattern(value.slice(1), s, words))
        : strings.some((s) => matchesPattern(value, s, words)),
    );
  });
}

/** Every secret of the `aws` instance, by creation time (then name), ascending or descending. */
/** What ListSecrets sorts by (AWS's SortBy; Coffer keeps no access dates, so that one sorts by creation). */
export type SortBy = 'created-date' | 'last-accessed-date' | 'last-changed-date' | 'name';

/** A secret's sort key for `by` (then its name). */
function keyOf(secret: Secret, by: SortBy): number | string {
  if (by === 'name') return secret.path;
  return by === 'last-changed-date' ? secret.updateTimeMs : secret.createTimeMs;
}

const cmp = (a: number | string, b: number | string) => (a < b ? -1 : a > b ? 1 : 0);

/** Every secret of the `aws` instance. */
async function allSecrets(app: App, call: AwsCall, instance: Instance) {
  const secrets: Secret[] = [];
  let token: string | undefined;
  do {
    const page = await app.secrets.list(locationOf(call), instance.id, undefined, 1000, token);
    secrets.push(...page.items);
    token = page.nextPageToken;
  } while (token);
  return secrets;
}

/**
 * One page of the `aws` instance's secrets that pass `filters` (and, unless `includeDeleted`, are
 * not pending deletion), ordered by `sortBy` (default creation time) then name; NextToken names the
 * last secret of the page by its sort key.
 */
export async function listPage(
  app: App,
  call: AwsCall,
  instance: Instance,
  options: {
    filters: readonly Filter[];
    includeDeleted: boolean;
    order: 'asc' | 'desc';
    sortBy?: SortBy | undefined;
    maxResults: number;
    nextToken: string | undefined;
  },
): Promise<{ items: Secret[]; nextToken?: string }> {
  const by = options.sortBy ?? 'created-date';
  let after: [number | string, string] | undefined;
  if (options.nextToken !== undefined) {
    try {
      after = JSON.parse(Buffer.from(options.nextToken, 'base64url').toString('utf8')) as [number, string];
      if (
        !Array.isArray(after) ||
        !['number', 'string'].includes(typeof after[0]) ||
        typeof after[1] !== 'string'
      )
        throw new Error();
    } catch {
      throw new AwsError('InvalidNextTokenException', 'The NextToken value is invalid.');
    }
  }
  const sign = options.order === 'desc' ? -1 : 1;
  const order = (a: [number | string, string], b: [number | string, string]) =>
    sign * cmp(a[0], b[0]) || cmp(a[1], b[1]);
  const matching = (await allSecrets(app, call, instance))
    .filter(
      (s) =>
        (options.includeDeleted || s.deleteTimeMs === null) &&
        matchesFilters(s, options.filters) &&
        (after === undefined || order([keyOf(s, by), s.path], after) > 0),
    )
    .sort((a, b) => order([keyOf(a, by), a.path], [keyOf(b, by), b.path]));
  const items = matching.slice(0, options.maxResults);
  if (matching.length <= options.maxResults) return { items };
  const last = items.at(-1)!;
  return {
    items,
    nextToken: Buffer.from(JSON.stringify([keyOf(last, by), last.path])).toString('base64url'),
  };
}
