import { randomUUID } from 'node:crypto';
import type { BatchGetValuesView, PutValueView, StageView } from '../core/api/route-answer-schemas.ts';
import type {
  CreateSecretBody,
  InstanceBody,
  InstanceView,
  PatchSecretBody,
  PutValueBody,
  SecretView,
} from '../core/api/secrets-schemas.ts';
import type { CallOptions, HttpTransport } from './http-transport.ts';
import type { RotateSecretView } from './rotation-types.ts';
import {
  type InstanceRef,
  instancePath,
  iteratePages,
  type PageOptions,
  type PageResult,
  type RegionRef,
  regionPath,
  type SecretRef,
  secretPath,
  type SecretValueView,
  type SecretVersionView,
  seg,
} from './sdk-types.ts';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The value fields for `bytes`: `{value}` when they are valid UTF-8 (a JSON string carries them
 * exactly), `{binaryValue}` (base64) otherwise, so any bytes round-trip unchanged.
 */
export function secretValueFields(bytes: Uint8Array): { value: string } | { binaryValue: string } {
  try {
    return { value: strictUtf8.decode(bytes) };
  } catch {
    return { binaryValue: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') };
  }
}

/** Which version getSecretValue reads: `latest` (the default), a number, and/or a stage. */
export interface VersionSelector {
  readonly version?: number | 'latest';
  readonly stage?: string;
}

/** Secrets Manager: instances, secrets, values, versions, stages (SPEC §6). */
export class SecretsApi {
  readonly #http: HttpTransport;
  constructor(http: HttpTransport) {
    this.#http = http;
  }

  /** `POST …/instances`. */
  createInstance(region: RegionRef, body: InstanceBody, options?: CallOptions): Promise<InstanceView> {
    return this.#http.send({ method: 'POST', path: `${regionPath(region)}/instances`, body }, options);
  }

  /** `GET …/instances`. */
  listInstances(
    region: RegionRef,
    page: PageOptions = {},
    options?: CallOptions,
  ): Promise<PageResult<InstanceView>> {
    return this.#http.send(
      { method: 'GET', path: `${regionPath(region)}/instances`, query: { ...page } },
      options,
    );
  }

  /** `GET …/instances/{i}`. */
  getInstance(ref: InstanceRef, options?: CallOptions): Promise<InstanceView> {
    return this.#http.send({ method: 'GET', path: instancePath(ref) }, options);
  }

  /** `PUT …/instances/{i}`: rename, switch or remove the key; a switch answers with `operation`. */
  updateInstance(ref: InstanceRef, body: InstanceBody, options?: CallOptions): Promise<InstanceView> {
    return this.#http.send({ method: 'PUT', path: instancePath(ref), body }, options);
  }

  /** `DELETE …/instances/{i}` (only when empty). */
  async deleteInstance(ref: InstanceRef, options?: CallOptions): Promise<void> {
    await this.#http.send({ method: 'DELETE', path: instancePath(ref) }, options);
  }

  /** `POST …/secrets`: creates a secret, optionally with its first value. */
  createSecret(instance: InstanceRef, body: CreateSecretBody, options?: CallOptions): Promise<SecretView> {
    return this.#http.send({ method: 'POST', path: `${instancePath(instance)}/secrets`, body }, options);
  }

  /** `GET …/secrets` (metadata only). */
  listSecrets(
    instance: InstanceRef,
    query: PageOptions & { readonly prefix?: string } = {},
    options?: CallOptions,
  ): Promise<PageResult<SecretView>> {
    return this.#http.send(
      { method: 'GET', path: `${instancePath(instance)}/secrets`, query: { ...query } },
      options,
    );
  }

  /** Every secret of an instance (optionally under a prefix), page after page. */
  listAllSecrets(
    instance: InstanceRef,
    query: { readonly prefix?: string; readonly pageSize?: number } = {},
    options?: CallOptions,
  ): AsyncGenerator<SecretView, void, undefined> {
    return iteratePages((pageToken) =>
      this.listSecrets(instance, { ...query, ...(pageToken ? { pageToken } : {}) }, options),
    );
  }

  /** `GET …/secrets/{secret}` (metadata; every key state). */
  getSecret(ref: SecretRef, options?: CallOptions): Promise<SecretView> {
    return this.#http.send({ method: 'GET', path: secretPath(ref) }, options);
  }

  /** `PATCH …/secrets/{secret}`: labels, annotations, expiry, rotation. */
  patchSecret(ref: SecretRef, body: PatchSecretBody, options?: CallOptions): Promise<SecretView> {
    return this.#http.send({ method: 'PATCH', path: secretPath(ref), body }, options);
  }

  /**
   * `DELETE …/secrets/{secret}`: with a recovery window (default 7 days) it answers the secret pending
   * deletion; with 0 it purges and answers `undefined`.
   */
  deleteSecret(
    ref: SecretRef,
    query: { readonly recoveryWindowDays?: number } = {},
    options?: CallOptions,
  ): Promise<SecretView | undefined> {
    return this.#http.send({ method: 'DELETE', path: secretPath(ref), query: { ...query } }, options);
  }

  /** `POST …/secrets/{secret}/restore`. */
  restoreSecret(ref: SecretRef, options?: CallOptions): Promise<SecretView> {
    return this.#http.send({ method: 'POST', path: `${secretPath(ref)}/restore` }, options);
  }

  /**
   * `POST …/secrets/{secret}/rotate`: runs the secret's rotator now (create, set, test, finish);
   * answers the new version. A failed step answers `target_failed` and shows in `rotationStatus`.
   */
  rotateSecret(ref: SecretRef, options?: CallOptions): Promise<RotateSecretView> {
    return this.#http.send({ method: 'POST', path: `${secretPath(ref)}/rotate` }, options);
  }

  /** getSecretValue: `GET …/value?version=&stage=` (latest enabled version by default). */
  getSecretValue(
    ref: SecretRef,
    select: VersionSelector = {},
    options?: CallOptions,
  ): Promise<SecretValueView> {
    const query = {
      ...(select.version !== undefined ? { version: String(select.version) } : {}),
      ...(select.stage !== undefined ? { stage: select.stage } : {}),
    };
    if (query.version === undefined && query.stage === undefined) query.version = 'latest';
    return this.#http.send({ method: 'GET', path: `${secretPath(ref)}/value`, query }, options);
  }

  /**
   * putSecretValue: `PUT …/value`. Sends an `Idempotency-Key` (random per call unless given), the
   * same on every retry, so a retried put never adds a second version.
   */
  putSecretValue(
    ref: SecretRef,
    body: PutValueBody,
    options?: CallOptions & { readonly idempotencyKey?: string },
  ): Promise<PutValueView> {
    return this.#http.send(
      {
        method: 'PUT',
        path: `${secretPath(ref)}/value`,
        body,
        idempotencyKey: options?.idempotencyKey ?? randomUUID(),
      },
      options,
    );
  }

  /** `POST …/secrets:batchGetValues`: up to 20 secrets, with an error per secret that failed. */
  batchGetValues(
    instance: InstanceRef,
    paths: readonly string[],
    options?: CallOptions,
  ): Promise<BatchGetValuesView> {
    return this.#http.send(
      {
        method: 'POST',
        path: `${instancePath(instance)}/secrets:batchGetValues`,
        body: { secrets: paths },
        idempotent: true,
      },
      options,
    );
  }

  /** `GET …/versions`. */
  listVersions(ref: SecretRef, options?: CallOptions): Promise<PageResult<SecretVersionView>> {
    return this.#http.send({ method: 'GET', path: `${secretPath(ref)}/versions` }, options);
  }

  /** `GET …/versions/{n}`. */
  getVersion(ref: SecretRef, version: number, options?: CallOptions): Promise<SecretVersionView> {
    return this.#http.send({ method: 'GET', path: `${secretPath(ref)}/versions/${seg(version)}` }, options);
  }

  /** `POST …/versions/{n}/enable|disable|destroy` (destroy erases the value, keeps the metadata). */
  setVersionState(
    ref: SecretRef,
    version: number,
    action: 'enable' | 'disable' | 'destroy',
    options?: CallOptions,
  ): Promise<SecretVersionView> {
    return this.#http.send(
      {
        method: 'POST',
        path: `${secretPath(ref)}/versions/${seg(version)}/${action}`,
        idempotent: action !== 'destroy',
      },
      options,
    );
  }

  /** `GET …/stages`. */
  listStages(ref: SecretRef, options?: CallOptions): Promise<PageResult<StageView>> {
    return this.#http.send({ method: 'GET', path: `${secretPath(ref)}/stages` }, options);
  }

  /** `PUT …/stages/{stage}`: moves a staging label onto a version. */
  moveStage(ref: SecretRef, stage: string, version: number, options?: CallOptions): Promise<StageView> {
    return this.#http.send(
      { method: 'PUT', path: `${secretPath(ref)}/stages/${seg(stage)}`, body: { version } },
      options,
    );
  }
}
