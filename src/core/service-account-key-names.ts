/**
 * The names a service-account key and its token exchange share between the server and the SDK
 * (no schema library here: the SDK loads this at run time).
 */

/**
 * The signing algorithms of a service-account key: `RS256` (RSA-2048, PKCS#1 v1.5 with SHA-256, what
 * a Google service-account key uses, and the default), `ES256` (P-256) and `EdDSA` (Ed25519).
 */
export const serviceAccountKeyAlgorithms = ['RS256', 'ES256', 'EdDSA'] as const;

/** One of `serviceAccountKeyAlgorithms`. */
export type ServiceAccountKeyAlgorithm = (typeof serviceAccountKeyAlgorithms)[number];

/** The path of the token endpoint; every assertion may name it as its audience. */
export const tokenEndpointPath = '/v2/auth/token';

/** The grant type of `POST /v2/auth/token` (RFC 7523 §2.1). */
export const jwtBearerGrantType = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/** The longest an assertion may live (`exp - iat`), as Google's token endpoint allows. */
export const maxAssertionLifetimeSeconds = 3600;
