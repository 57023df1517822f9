import { type Static, Type } from '@sinclair/typebox';
import { Body, Timestamp } from './common-schemas.ts';
import { Duration } from './kms-schemas.ts';
import { jwtBearerGrantType, serviceAccountKeyAlgorithms } from '../service-account-key-names.ts';

/** `POST …/service-accounts/{email}/keys` body. */
export const CreateServiceAccountKeyBody = Body({
  algorithm: Type.Optional(
    Type.Union(
      serviceAccountKeyAlgorithms.map((a) => Type.Literal(a)),
      { description: 'RS256 (RSA-2048, default), ES256 (P-256) or EdDSA (Ed25519)' },
    ),
  ),
  expireTime: Type.Optional(Timestamp),
});
export type CreateServiceAccountKeyBody = Static<typeof CreateServiceAccountKeyBody>;

/** A service-account key as listed: metadata only; Coffer never holds the private key. */
export const ServiceAccountKeyView = Type.Object({
  name: Type.String({ description: 'projects/{p}/service-accounts/{email}/keys/{keyId}' }),
  keyId: Type.String(),
  serviceAccount: Type.String(),
  algorithm: Type.String(),
  disabled: Type.Boolean(),
  createTime: Timestamp,
  expireTime: Type.Union([Timestamp, Type.Null()]),
  publicKey: Type.Optional(Type.String({ description: 'SPKI PEM (GET of one key only)' })),
});
export type ServiceAccountKeyView = Static<typeof ServiceAccountKeyView>;

/**
 * The JSON key file: what `POST …/keys` returns once (like a Google service-account key file, in
 * camelCase). Whoever holds it can act as the account; Coffer keeps only the public key.
 */
export const ServiceAccountKeyFile = Type.Object({
  type: Type.Literal('service_account'),
  projectId: Type.String({ minLength: 1, maxLength: 64 }),
  clientEmail: Type.String({ minLength: 3, maxLength: 320 }),
  privateKeyId: Type.String({ minLength: 1, maxLength: 64 }),
  privateKey: Type.String({ minLength: 1, maxLength: 8192, description: 'PKCS#8 PEM' }),
  tokenUri: Type.String({
    minLength: 1,
    maxLength: 2048,
    description: 'the token endpoint; also the audience the assertion names',
  }),
  algorithm: Type.Union(serviceAccountKeyAlgorithms.map((a) => Type.Literal(a))),
});
export type ServiceAccountKeyFile = Static<typeof ServiceAccountKeyFile>;

/** `POST /v2/auth/token` body (RFC 7523 in camelCase, as Google's token endpoint takes it). */
export const TokenExchangeBody = Body({
  grantType: Type.Literal(jwtBearerGrantType),
  assertion: Type.String({ minLength: 1, maxLength: 8192 }),
  ttl: Type.Optional(Duration),
});
export type TokenExchangeBody = Static<typeof TokenExchangeBody>;

/** `POST /v2/auth/token` answer. */
export const TokenExchangeView = Type.Object({ token: Type.String(), expireTime: Timestamp });
export type TokenExchangeView = Static<typeof TokenExchangeView>;
