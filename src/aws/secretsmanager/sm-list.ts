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

/** Words as AWS's `all` filter splits them: at case changes, letter/digit changes and punctuation. */
function wordsOf(text: string): string[] {
  return (text.match(/[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+/g) ?? []).map((w) => w.toLowerCase());
}

/** Whether `secret` matches one filter value (without its `!`). */
function matchesValue(secret: Secret, key: string, value: string): boolean {
  const tags = secret.tags ?? [];
  switch (key) {
    case 'name':
      return secret.path.startsWith(value);
    case 'description': {
      const description = (secret.description ?? '').toLowerCase();
      const wanted = value.toLowerCase();
      return description.startsWith(wanted) || description.split(/\s+/).some((w) => w.startsWith(wanted));
    }
    case 'tag-key':
      return tags.some((t) => t.key.startsWith(value));
    case 'tag-value':
      return tags.some((t) => t.value.startsWith(value));
    case 'all': {
      const haystack = [
        secret.path,
        secret.description ?? '',
        ...tags.flatMap((t) => [t.key, t.value]),
      ].flatMap(wordsOf);
      return wordsOf(value).some((w) => haystack.some((h) => h.startsWith(w)));
    }
    default:
      // primary-region, owning-service: Coffer's secrets are neither replicated nor owned by a service.
      return false;
  }
}

/** Whether `secret` passes every filter (values of a filter: any positive one, and no negated one). */
export function matchesFilters(secret: Secret, filters: readonly Filter[]): boolean {
  return filters.every((filter) => {
    const key = filter.Key ?? 'all';
    const values = filter.Values ?? [];
    const positive = values.filter((v) => !v.startsWith('!'));
    const negative = values.filter((v) => v.startsWith('!')).map((v) => v.slice(1));
    return (
      (positive.length === 0 || positive.some((v) => matchesValue(secret, key, v))) &&
      negative.every((v) => !matchesValue(secret, key, v))
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
