import type { Instance, Secret } from '../../src/secrets/secret-types.ts';

/** The location of the fixtures below. */
export const fixtureLocation = { projectId: 'p1', regionId: 'r1' } as const;

/** An instance row as the services see it (no KMS key). */
export function fixtureInstance(overrides: Partial<Instance> = {}): Instance {
  return {
    ...fixtureLocation,
    id: 'i1',
    name: 'main',
    kmsKey: null,
    kmsKeyUid: null,
    etag: 'e',
    createTimeMs: 0,
    updateTimeMs: 0,
    ...overrides,
  };
}

/** A secret row of `fixtureInstance()` with one version (next is 2). */
export function fixtureSecret(overrides: Partial<Secret> = {}): Secret {
  return {
    uid: 'u1',
    ...fixtureLocation,
    instanceId: 'i1',
    path: 'db',
    kmsKeyUid: null,
    labels: {},
    annotations: {},
    expireTimeMs: null,
    rotationPeriodSeconds: null,
    nextRotationTimeMs: null,
    deleteTimeMs: null,
    nextVersion: 2,
    etag: 'e',
    createTimeMs: 0,
    updateTimeMs: 0,
    ...overrides,
  };
}
