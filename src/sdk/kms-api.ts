import type {
  CreateKeyBody,
  CreateKeyRingBody,
  DecryptBody,
  EncryptBody,
  GenerateDataKeyBody,
  KeyRingView,
  KeyVersionView,
  KeyView,
  MacBody,
  RewrapBody,
  SignBody,
  VerifyBody,
  VerifyMacBody,
} from '../core/api/kms-schemas.ts';
import type { CallOptions, HttpTransport } from './http-transport.ts';
import {
  type CiphertextView,
  type DataKeyView,
  type DependentsView,
  type KeyRef,
  type KeyRingRef,
  type KeyVersionRef,
  keyPath,
  keyRingPath,
  type MacView,
  type PageOptions,
  type PageResult,
  type PlaintextView,
  type PublicKeyView,
  type RegionRef,
  regionPath,
  type SignatureView,
  seg,
  type ValidView,
} from './sdk-types.ts';

/** A key lifecycle action: `POST …/keys/{key}/<action>`. */
export type KeyLifecycleAction = 'enable' | 'disable' | 'schedule-deletion' | 'cancel-deletion';

/** KMS: key rings, keys, versions, lifecycle and crypto operations (SPEC §5). Binary fields are base64. */
export class KmsApi {
  readonly #http: HttpTransport;
  constructor(http: HttpTransport) {
    this.#http = http;
  }

  /** `POST …/keyrings`. */
  createKeyRing(region: RegionRef, body: CreateKeyRingBody, options?: CallOptions): Promise<KeyRingView> {
    return this.#http.send({ method: 'POST', path: `${regionPath(region)}/keyrings`, body }, options);
  }

  /** `GET …/keyrings`. */
  listKeyRings(
    region: RegionRef,
    page: PageOptions = {},
    options?: CallOptions,
  ): Promise<PageResult<KeyRingView>> {
    return this.#http.send(
      { method: 'GET', path: `${regionPath(region)}/keyrings`, query: { ...page } },
      options,
    );
  }

  /** `GET …/keyrings/{ring}`. */
  getKeyRing(ref: KeyRingRef, options?: CallOptions): Promise<KeyRingView> {
    return this.#http.send({ method: 'GET', path: keyRingPath(ref) }, options);
  }

  /** `POST …/keys`: a key with version 1. */
  createKey(ring: KeyRingRef, body: CreateKeyBody, options?: CallOptions): Promise<KeyView> {
    return this.#http.send({ method: 'POST', path: `${keyRingPath(ring)}/keys`, body }, options);
  }

  /** `GET …/keys`. */
  listKeys(ring: KeyRingRef, page: PageOptions = {}, options?: CallOptions): Promise<PageResult<KeyView>> {
    return this.#http.send({ method: 'GET', path: `${keyRingPath(ring)}/keys`, query: { ...page } }, options);
  }

  /** `GET …/keys/{key}` (metadata, every state). */
  getKey(ref: KeyRef, options?: CallOptions): Promise<KeyView> {
    return this.#http.send({ method: 'GET', path: keyPath(ref) }, options);
  }

  /** `POST …/rotate`: adds a version and makes it primary. */
  rotateKey(ref: KeyRef, options?: CallOptions): Promise<KeyView> {
    return this.#http.send({ method: 'POST', path: `${keyPath(ref)}/rotate` }, options);
  }

  /**
   * `POST …/enable|disable|schedule-deletion|cancel-deletion`. `force` is needed to disable or schedule
   * the deletion of a key that secrets or instances depend on.
   */
  changeKeyState(
    ref: KeyRef,
    action: KeyLifecycleAction,
    input: { readonly force?: boolean; readonly pendingWindowDays?: number } = {},
    options?: CallOptions,
  ): Promise<KeyView> {
    return this.#http.send(
      {
        method: 'POST',
        path: `${keyPath(ref)}/${action}`,
        query: input.force ? { force: true } : {},
        ...(action === 'schedule-deletion'
          ? {
              body:
                input.pendingWindowDays !== undefined ? { pendingWindowDays: input.pendingWindowDays } : {},
            }
          : {}),
        idempotent: action === 'enable' || action === 'disable',
      },
      options,
    );
  }

  /** `GET …/keys/{key}/dependents`: secrets and instances bound to the key (names the caller may read, all counted). */
  getKeyDependents(ref: KeyRef, options?: CallOptions): Promise<DependentsView> {
    return this.#http.send({ method: 'GET', path: `${keyPath(ref)}/dependents` }, options);
  }

  /** `GET …/versions`. */
  listKeyVersions(
    ref: KeyRef,
    page: PageOptions = {},
    options?: CallOptions,
  ): Promise<PageResult<KeyVersionView>> {
    return this.#http.send({ method: 'GET', path: `${keyPath(ref)}/versions`, query: { ...page } }, options);
  }

  /** `GET …/versions/{n}`. */
  getKeyVersion(ref: KeyVersionRef, options?: CallOptions): Promise<KeyVersionView> {
    return this.#http.send({ method: 'GET', path: `${keyPath(ref)}/versions/${seg(ref.version)}` }, options);
  }

  /**
   * `POST …/versions/{n}/enable|disable|destroy|restore`. A destroy of a version secrets depend on
   * needs `force` and is then scheduled (`destroy_scheduled`, `pendingWindowDays` 7–30, default 30);
   * `restore` cancels it.
   */
  setKeyVersionState(
    ref: KeyVersionRef,
    action: 'enable' | 'disable' | 'destroy' | 'restore',
    options?: CallOptions,
    input: { readonly force?: boolean; readonly pendingWindowDays?: number } = {},
  ): Promise<KeyVersionView> {
    return this.#http.send(
      {
        method: 'POST',
        path: `${keyPath(ref)}/versions/${seg(ref.version)}/${action}`,
        query:
          action === 'destroy'
            ? {
                ...(input.force ? { force: true } : {}),
                ...(input.pendingWindowDays !== undefined
                  ? { pendingWindowDays: input.pendingWindowDays }
                  : {}),
              }
            : {},
        idempotent: action === 'enable' || action === 'disable',
      },
      options,
    );
  }

  /** `GET …/versions/{n}/public-key` (PEM, asymmetric keys). */
  getPublicKey(ref: KeyVersionRef, options?: CallOptions): Promise<PublicKeyView> {
    return this.#http.send(
      { method: 'GET', path: `${keyPath(ref)}/versions/${seg(ref.version)}/public-key` },
      options,
    );
  }

  /** `POST …/encrypt` (plaintext ≤ 64 KiB, base64). */
  encrypt(ref: KeyRef, body: EncryptBody, options?: CallOptions): Promise<CiphertextView> {
    return this.#crypto(ref, 'encrypt', body, options);
  }

  /** `POST …/decrypt`. */
  decrypt(ref: KeyRef, body: DecryptBody, options?: CallOptions): Promise<PlaintextView> {
    return this.#crypto(ref, 'decrypt', body, options);
  }

  /** `POST …/generate-data-key`. */
  generateDataKey(ref: KeyRef, body: GenerateDataKeyBody, options?: CallOptions): Promise<DataKeyView> {
    return this.#crypto(ref, 'generate-data-key', body, options);
  }

  /** `POST …/rewrap`: re-encrypts under the primary version. */
  rewrap(ref: KeyRef, body: RewrapBody, options?: CallOptions): Promise<CiphertextView> {
    return this.#crypto(ref, 'rewrap', body, options);
  }

  /** `POST …/sign` (exactly one of data and digest). */
  sign(ref: KeyRef, body: SignBody, options?: CallOptions): Promise<SignatureView> {
    return this.#crypto(ref, 'sign', body, options);
  }

  /** `POST …/verify`. */
  verify(ref: KeyRef, body: VerifyBody, options?: CallOptions): Promise<ValidView> {
    return this.#crypto(ref, 'verify', body, options);
  }

  /** `POST …/mac`. */
  mac(ref: KeyRef, body: MacBody, options?: CallOptions): Promise<MacView> {
    return this.#crypto(ref, 'mac', body, options);
  }

  /** `POST …/verify-mac`. */
  verifyMac(ref: KeyRef, body: VerifyMacBody, options?: CallOptions): Promise<ValidView> {
    return this.#crypto(ref, 'verify-mac', body, options);
  }

  // Crypto operations change nothing stored, so repeating one after a lost answer is harmless.
  #crypto<T>(ref: KeyRef, action: string, body: object, options: CallOptions | undefined): Promise<T> {
    return this.#http.send(
      { method: 'POST', path: `${keyPath(ref)}/${action}`, body, idempotent: true },
      options,
    );
  }
}
