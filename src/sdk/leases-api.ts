import type { DurationValue, LeaseView } from './database-types.ts';
import type { CallOptions, HttpTransport } from './http-transport.ts';
import { seg } from './sdk-types.ts';

/** Leases by id (`/v2/leases/{id}`): the issuing principal's own, or any for an admin of the database. */
export class LeasesApi {
  readonly #http: HttpTransport;
  constructor(http: HttpTransport) {
    this.#http = http;
  }

  /** `GET /v2/leases/{id}`. */
  get(id: string, options?: CallOptions): Promise<LeaseView> {
    return this.#http.send({ method: 'GET', path: `/v2/leases/${seg(id)}` }, options);
  }

  /** `POST /v2/leases/{id}/renew`: extends the lease (bounded by the role's maxTtl from issue time). */
  renew(
    id: string,
    body: { readonly increment?: DurationValue } = {},
    options?: CallOptions,
  ): Promise<LeaseView> {
    return this.#http.send({ method: 'POST', path: `/v2/leases/${seg(id)}/renew`, body }, options);
  }

  /** `POST /v2/leases/{id}/revoke`: drops the login now; answers the lease (state `revoked`). */
  revoke(id: string, options?: CallOptions): Promise<LeaseView> {
    return this.#http.send(
      { method: 'POST', path: `/v2/leases/${seg(id)}/revoke`, idempotent: true },
      options,
    );
  }
}
