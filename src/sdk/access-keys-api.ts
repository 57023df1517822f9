import type { AccessKeyView, CreatedAccessKeyView } from '../core/api/access-key-schemas.ts';
import type { CallOptions, HttpTransport } from './http-transport.ts';
import {
  type PageOptions,
  type PageResult,
  type ServiceAccountRef,
  serviceAccountPath,
  seg,
} from './sdk-types.ts';

/** Whose AWS access keys: a service account's, the caller's own (`'self'`), or a user's (administrators). */
export type AccessKeyOwner = ServiceAccountRef | 'self' | { readonly user: string };

function ownerPath(owner: AccessKeyOwner): string {
  if (owner === 'self') return '/v2/access-keys';
  if ('user' in owner) return `/v2/users/${seg(owner.user)}/access-keys`;
  return `${serviceAccountPath(owner)}/access-keys`;
}

/**
 * AWS access keys (docs/aws.md): SigV4 credentials of a service account (minting needs act_as) or
 * of the calling user (only the user mints its own). The secret is answered once, by `create`.
 */
export class AccessKeysApi {
  readonly #http: HttpTransport;
  constructor(http: HttpTransport) {
    this.#http = http;
  }

  /**
   * Creates a key: a service account's (`owner` is its ref), or the caller's own acting in
   * `projectId` (`owner` is `'self'`). Answers `secretAccessKey` this once.
   */
  create(
    owner: ServiceAccountRef | 'self',
    projectId?: string,
    options?: CallOptions,
  ): Promise<CreatedAccessKeyView> {
    if (owner === 'self') {
      if (projectId === undefined)
        throw new TypeError('projectId is required for the caller’s own access key');
      return this.#http.send({ method: 'POST', path: '/v2/access-keys', body: { projectId } }, options);
    }
    return this.#http.send({ method: 'POST', path: ownerPath(owner) }, options);
  }

  /** Lists an owner's keys (never their secrets). */
  list(
    owner: AccessKeyOwner,
    page: PageOptions = {},
    options?: CallOptions,
  ): Promise<PageResult<AccessKeyView>> {
    return this.#http.send({ method: 'GET', path: ownerPath(owner), query: { ...page } }, options);
  }

  /** Disables or enables a key (a disabled key is refused at once; a user's keys are enabled by the user only). */
  setDisabled(
    owner: AccessKeyOwner,
    accessKeyId: string,
    disabled: boolean,
    options?: CallOptions,
  ): Promise<AccessKeyView> {
    return this.#http.send(
      {
        method: 'POST',
        path: `${ownerPath(owner)}/${seg(accessKeyId)}/${disabled ? 'disable' : 'enable'}`,
        idempotent: true,
      },
      options,
    );
  }

  /** Deletes a key. */
  async delete(owner: AccessKeyOwner, accessKeyId: string, options?: CallOptions): Promise<void> {
    await this.#http.send({ method: 'DELETE', path: `${ownerPath(owner)}/${seg(accessKeyId)}` }, options);
  }
}
