import { Type } from '@sinclair/typebox';
import type { App } from '../../app/app.ts';
import { isCofferError } from '../../core/errors.ts';
import { BatchReveal } from '../../secrets/batch-reveal.ts';
import { arnSuffixOf } from '../../secrets/secret-attribute-fns.ts';
import type { Instance } from '../../secrets/secret-types.ts';
import { AwsError, awsErrorOf } from '../aws-errors.ts';
import { type AwsCall, type AwsOperation, awsOperation } from '../aws-operation.ts';
import { describeSecret, managedKeyUid } from './sm-describe.ts';
import { checkFilters, type Filter, FilterShape, listPage, type SortBy } from './sm-list.ts';
import { awsResourceName, findAwsInstance, locationOf, secretNotFound } from './sm-scope.ts';
import { awsValueError, str } from './sm-wire.ts';
import { valueView } from './sm-value-ops.ts';

const arnPattern = /^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)$/;

/**
 * The name a SecretId of a batch stands for in the `aws` instance: a name as is; an ARN of the call's
 * account and region by its name (the one whose suffix matches, else the partial ARN's name);
 * undefined for an ARN that names nothing here.
 */
async function batchName(call: AwsCall, app: App, instance: Instance, secretId: string) {
  if (!secretId.startsWith('arn:')) return secretId;
  const arn = arnPattern.exec(secretId);
  if (!arn || arn[1] !== call.regionId || arn[2] !== call.accountId) return undefined;
  const suffixed = /^(.+)-([A-Za-z0-9]{6})$/.exec(arn[3]!);
  if (suffixed) {
    const secret = await app.secrets.inInstance(instance, suffixed[1]!).catch(() => undefined);
    if (secret && arnSuffixOf(secret) === suffixed[2]) return secret.path;
  }
  return arn[3]!;
}

/** ListSecrets and BatchGetSecretValue. */
export function listOperations(app: App): Record<string, AwsOperation> {
  const batchReveal = new BatchReveal({
    authorizer: app.authorizer,
    projects: app.projects,
    instances: app.instances,
    secrets: app.secrets,
    values: app.secretValues,
    clock: app.clock,
  });
  const filtersField = Type.Optional(Type.Array(FilterShape, { maxItems: 10 }));

  return {
    ListSecrets: awsOperation({
      input: Type.Object({
        IncludePlannedDeletion: Type.Optional(Type.Boolean()),
        MaxResults: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
        NextToken: Type.Optional(str(1, 4096)),
        Filters: filtersField,
        SortOrder: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')])),
        SortBy: Type.Optional(
          Type.Union(
            ['created-date', 'last-accessed-date', 'last-changed-date', 'name'].map((k) => Type.Literal(k)),
          ),
        ),
      }),
      changesState: false,
      handler: async (call, input) => {
        checkFilters((input.Filters ?? []) as Filter[]);
        const instanceId = await findAwsInstance(call, app);
        await call.authorize('secrets.secrets.list', awsResourceName(call, instanceId));
        if (instanceId === undefined) return { SecretList: [] };
        await app.projects.requireFeature(call.projectId, 'secrets');
        const instance = await app.instances.get(locationOf(call), instanceId);
        const page = await listPage(app, call, instance, {
          filters: (input.Filters ?? []) as Filter[],
          includeDeleted: input.IncludePlannedDeletion === true,
          order: input.SortOrder ?? 'asc',
          sortBy: input.SortBy as SortBy | undefined,
          maxResults: input.MaxResults ?? 100,
          nextToken: input.NextToken,
        });
        const list = [];
        // Read once for the page: the managed key and the rotation statuses.
        const managed = await managedKeyUid(call, app);
        const statuses = await app.rotation.statuses(page.items);
        for (const secret of page.items) {
          const { VersionIdsToStages, ...rest } = await describeSecret(call, app, instance, secret, {
            versions: true,
            managed,
            status: statuses.get(secret.uid) ?? null,
          });
          list.push({
            ...rest,
            ...(VersionIdsToStages !== undefined ? { SecretVersionsToStages: VersionIdsToStages } : {}),
          });
        }
        return { SecretList: list, ...(page.nextToken ? { NextToken: page.nextToken } : {}) };
      },
    }),

    BatchGetSecretValue: awsOperation({
      input: Type.Object({
        SecretIdList: Type.Optional(Type.Array(str(1, 2048), { minItems: 1, maxItems: 20 })),
        Filters: filtersField,
        MaxResults: Type.Optional(Type.Integer({ minimum: 1, maximum: 20 })),
        NextToken: Type.Optional(str(1, 4096)),
      }),
      changesState: false,
      handler: async (call, input) => {
        checkFilters((input.Filters ?? []) as Filter[]);
        if ((input.SecretIdList === undefined) === (input.Filters === undefined))
          throw new AwsError('InvalidParameterException', 'Give either SecretIdList or Filters, not both.');
        const instanceId = await findAwsInstance(call, app);
        let ids: string[];
        let nextToken: string | undefined;
        let instance: Instance | undefined;
        if (input.Filters !== undefined) {
          // Choosing secrets by filter lists them: the caller needs the list permission first.
          await call.authorize('secrets.secrets.list', awsResourceName(call, instanceId), {
            auditAction: 'secrets.batch_get_values',
          });
          if (instanceId === undefined) return { SecretValues: [], Errors: [] };
          instance = await app.instances.get(locationOf(call), instanceId);
          const page = await listPage(app, call, instance, {
            filters: input.Filters as Filter[],
            includeDeleted: false,
            order: 'asc',
            maxResults: input.MaxResults ?? 20,
            nextToken: input.NextToken,
          });
          ids = page.items.map((s) => s.path);
          nextToken = page.nextToken;
        } else {
          if (input.MaxResults !== undefined || input.NextToken !== undefined)
            throw new AwsError('InvalidParameterException', 'MaxResults and NextToken go with Filters only.');
          ids = [...new Set(input.SecretIdList)];
        }
        call.auditDetails.secrets = ids.length;
        const errors: Array<{ SecretId: string; ErrorCode: string; Message: string }> = [];
        if (instanceId === undefined) {
          // No `aws` instance yet: nothing to read; each id is denied or absent as the caller may see.
          for (const id of ids) {
            const allowed = await app.authorizer.holds(
              call.principal,
              'secrets.get_value',
              awsResourceName(call, undefined, id),
            );
            errors.push({
              SecretId: id,
              ErrorCode: allowed ? 'ResourceNotFoundException' : 'AccessDeniedException',
              Message: allowed ? "Secrets Manager can't find the specified secret." : 'Access denied.',
            });
          }
          return { SecretValues: [], Errors: errors };
        }
        instance ??= await app.instances.get(locationOf(call), instanceId);
        const paths: string[] = [];
        const idOfPath = new Map<string, string>();
        for (const id of ids) {
          const path = await batchName(call, app, instance, id);
          if (path === undefined)
            errors.push({
              SecretId: id,
              ErrorCode: 'ResourceNotFoundException',
              Message: "Secrets Manager can't find the specified secret.",
            });
          else if (!idOfPath.has(path)) {
            paths.push(path);
            idOfPath.set(path, id);
          }
        }
        const read =
          paths.length === 0
            ? { values: [], errors: [] }
            : await batchReveal.read(
                locationOf(call),
                instance.id,
                paths,
                call.caller,
                (err) => {
                  const mapped = awsErrorOf(awsValueError(err, 'decrypt'), 'secretsmanager');
                  if (mapped.status >= 500) return undefined;
                  const live =
                    isCofferError(err, 'failed_precondition') && /pending deletion/.test(err.message);
                  return {
                    status: mapped.type === 'AccessDeniedException' ? 403 : live ? 400 : 404,
                    code: mapped.type,
                    // AWS's own words for a missing secret (as GetSecretValue answers it).
                    message:
                      mapped.type === 'ResourceNotFoundException' ? secretNotFound().message : mapped.message,
                  };
                },
                'current',
              );
        const values = [];
        for (const { path, value } of read.values)
          values.push(await valueView(call, app, await app.secrets.inInstance(instance, path), value));
        for (const { path, error } of read.errors)
          errors.push({
            SecretId: idOfPath.get(path) ?? path,
            ErrorCode: error.code,
            Message: error.message,
          });
        return { SecretValues: values, Errors: errors, ...(nextToken ? { NextToken: nextToken } : {}) };
      },
    }),
  };
}
