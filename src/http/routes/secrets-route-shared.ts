import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { AuditEvent } from '../../audit/audit-types.ts';
import { type InstanceView } from '../../core/api/secrets-schemas.ts';
import { toRfc3339 } from '../../core/clock.ts';
import { maxTimestampMs, parseDurationSeconds } from '../../core/durations.ts';
import { errors } from '../../core/errors.ts';
import type { Permission } from '../../iam/permissions.ts';
import type { Caller, RevealedValue } from '../../secrets/secret-value-service.ts';
import { type Instance, instanceName } from '../../secrets/secret-types.ts';

/** Parameters, guards and views shared by the Secrets Manager routes. */
export const s64 = () => Type.String({ maxLength: 64 });
export const RegionParams = Type.Object({ projectId: s64(), regionId: s64() });
export const InstanceParams = Type.Object({ projectId: s64(), regionId: s64(), instanceId: s64() });
export const OperationParams = Type.Object({ projectId: s64(), regionId: s64(), operationId: s64() });
export const SecretParams = Type.Object({
  projectId: s64(),
  regionId: s64(),
  instanceId: s64(),
  secret: Type.String({ maxLength: 1600 }),
});
export const VersionParams = Type.Object({
  projectId: s64(),
  regionId: s64(),
  instanceId: s64(),
  secret: Type.String({ maxLength: 1600 }),
  version: Type.Integer({ minimum: 1 }),
});
export const StageParams = Type.Object({
  projectId: s64(),
  regionId: s64(),
  instanceId: s64(),
  secret: Type.String({ maxLength: 1600 }),
  stage: s64(),
});
export const KeyParams = Type.Object({ projectId: s64(), regionId: s64(), keyRingId: s64(), keyId: s64() });
/**
 * `?label=env=prod` (the label has this value) or `?label=env` (the label is set); repeat for more
 * (all must hold). Keys as labels take them: lowercase letter first, then letters, digits, _ or -.
 */
const LabelTerm = Type.String({ pattern: '^[a-z][a-z0-9_-]{0,62}(=[^\\u0000]{0,256})?$', maxLength: 320 });

/** The `label` terms of a secrets listing as filters. */
export function labelFilters(
  label: string | readonly string[] | undefined,
): { key: string; value?: string }[] {
  const terms = label === undefined ? [] : typeof label === 'string' ? [label] : label;
  return terms.map((term) => {
    const at = term.indexOf('=');
    return at < 0 ? { key: term } : { key: term.slice(0, at), value: term.slice(at + 1) };
  });
}

export const ListSecretsQuery = Type.Object(
  {
    prefix: Type.Optional(Type.String({ maxLength: 512 })),
    label: Type.Optional(Type.Union([LabelTerm, Type.Array(LabelTerm, { maxItems: 10 })])),
    pageSize: Type.Optional(Type.Integer({ minimum: 1 })),
    pageToken: Type.Optional(Type.String({ maxLength: 2048 })),
  },
  { additionalProperties: false },
);
export const ValueQuery = Type.Object(
  {
    version: Type.Optional(Type.String({ maxLength: 16 })),
    stage: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);
export const DeleteQuery = Type.Object(
  { recoveryWindowDays: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 })) },
  { additionalProperties: false },
);

export type P = Record<string, string>;
export const regionName = (p: P) => `projects/${p.projectId}/regions/${p.regionId}`;
export const instName = (p: P) =>
  instanceName({ projectId: p.projectId!, regionId: p.regionId!, instanceId: p.instanceId! });
export const secName = (p: P) => `${instName(p)}/secrets/${encodeURIComponent(p.secret ?? '')}`;
export const loc = (p: P) => ({ projectId: p.projectId!, regionId: p.regionId! });

export function guard(
  permission: Permission | 'authenticated',
  resource: (p: P) => string,
  extra: { needsKmsRegion?: boolean; auditAction?: string } = {},
) {
  return { guard: { permission, resource, feature: 'secrets' as const, ...extra } };
}

export function instanceView(instance: Instance, operation?: { id: string; name: string }): InstanceView {
  return {
    id: instance.id,
    name: instance.name,
    projectId: instance.projectId,
    regionId: instance.regionId,
    kmsKey: instance.kmsKey,
    etag: instance.etag,
    createTime: toRfc3339(instance.createTimeMs),
    updateTime: toRfc3339(instance.updateTimeMs),
    ...(operation ? { operation } : {}),
  };
}

export function callerOf(request: FastifyRequest): Caller {
  const events: AuditEvent[] = [];
  request.auditExtra = events;
  return { principal: request.principal!, requestId: String(request.id), events };
}

/** Versions' creation times as RFC 3339, formatted once (a reveal answers the same ones again and again). */
const createTimes = new Map<number, string>();

function createTimeOf(ms: number): string {
  let text = createTimes.get(ms);
  if (text === undefined) {
    if (createTimes.size >= 10_000) createTimes.clear();
    text = toRfc3339(ms);
    createTimes.set(ms, text);
  }
  return text;
}

/** A revealed value as answered (one object shape for the compiled serializer). */
export function valueView(value: RevealedValue) {
  return {
    value: value.value,
    binaryValue: value.binaryValue === undefined ? undefined : value.binaryValue.toString('base64'),
    version: value.version,
    stages: value.stages,
    createTime: createTimeOf(value.createTimeMs),
  };
}

export function expiryOf(
  body: { expireTime?: string | null | undefined; ttl?: string | number | undefined },
  nowMs: number,
): number | null | undefined {
  if (body.expireTime !== undefined && body.ttl !== undefined)
    throw errors.invalid('Give expireTime or ttl, not both.');
  if (body.ttl !== undefined) return nowMs + parseDurationSeconds(body.ttl, 'ttl') * 1000;
  if (body.expireTime === null) return null;
  return body.expireTime === undefined ? undefined : timestampOf(body.expireTime, 'expireTime');
}

export function timestampOf(value: string, field: string): number {
  const ms = Date.parse(value);
  if (Number.isNaN(ms) || ms > maxTimestampMs)
    throw errors.invalid(`${field} must be a timestamp before the year 10000.`);
  return ms;
}

/** A body's `rotation` for the service; `rotator` is the configuration the rotation service checked. */
export function rotationOf(
  rotation:
    | { period?: string | number | null | undefined; nextRotationTime?: string | null | undefined }
    | null
    | undefined,
  rotator?: string,
) {
  if (rotation === undefined || rotation === null) return rotation;
  // null is "none", as the view shows it.
  return {
    ...(rotation.period !== undefined && rotation.period !== null
      ? { periodSeconds: parseDurationSeconds(rotation.period, 'rotation.period') }
      : {}),
    ...(rotator !== undefined ? { rotator } : {}),
    ...(rotation.nextRotationTime !== undefined && rotation.nextRotationTime !== null
      ? { nextRotationTimeMs: timestampOf(rotation.nextRotationTime, 'rotation.nextRotationTime') }
      : {}),
  };
}

/** Secrets Manager routes (SPEC §6). */
