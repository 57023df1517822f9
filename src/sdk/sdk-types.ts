import type { Static } from '@sinclair/typebox';
import type {
  AuditEventView as AuditEventSchema,
  AuditQueryString as AuditQuerySchema,
  VerifyView as VerifySchema,
} from '../core/api/audit-schemas.ts';
import type {
  IssuedTokenView as IssuedTokenSchema,
  LoginView as LoginSchema,
  PermissionView as PermissionSchema,
  TestPermissionsView as TestPermissionsSchema,
  TokenInfoView as TokenInfoSchema,
} from '../core/api/iam-schemas.ts';
import type {
  CiphertextView as CiphertextSchema,
  DataKeyView as DataKeySchema,
  MacView as MacSchema,
  PlaintextView as PlaintextSchema,
  PublicKeyView as PublicKeySchema,
  SignatureView as SignatureSchema,
  ValidView as ValidSchema,
} from '../core/api/kms-schemas.ts';
import type {
  DependentsView as DependentsSchema,
  OperationView as OperationSchema,
  SecretValueView as SecretValueSchema,
  SecretVersionView as SecretVersionSchema,
} from '../core/api/secrets-schemas.ts';

// Types of the API schemas that core declares as values only; derived, never written twice.
/** An audit event. */
export type AuditEventView = Static<typeof AuditEventSchema>;
/** Filters of an audit query (paging included). */
export type AuditQuery = Static<typeof AuditQuerySchema>;
/** The answer of audit verification. */
export type AuditVerifyView = Static<typeof VerifySchema>;
/** A token as issued (shown once). */
export type IssuedTokenView = Static<typeof IssuedTokenSchema>;
/** A token as listed. */
export type TokenInfoView = Static<typeof TokenInfoSchema>;
/** The answer of a login. */
export type LoginView = Static<typeof LoginSchema>;
/** A permission of the catalogue. */
export type PermissionView = Static<typeof PermissionSchema>;
/** The permissions held, of those tested. */
export type TestPermissionsView = Static<typeof TestPermissionsSchema>;
/** An encrypt or rewrap answer. */
export type CiphertextView = Static<typeof CiphertextSchema>;
/** A decrypt answer. */
export type PlaintextView = Static<typeof PlaintextSchema>;
/** A generate-data-key answer. */
export type DataKeyView = Static<typeof DataKeySchema>;
/** A sign answer. */
export type SignatureView = Static<typeof SignatureSchema>;
/** A verify or verify-mac answer. */
export type ValidView = Static<typeof ValidSchema>;
/** A mac answer. */
export type MacView = Static<typeof MacSchema>;
/** A public key (PEM). */
export type PublicKeyView = Static<typeof PublicKeySchema>;
/** Secrets and instances bound to a key. */
export type DependentsView = Static<typeof DependentsSchema>;
/** A long-running operation. */
export type OperationView = Static<typeof OperationSchema>;
/** A getSecretValue answer. */
export type SecretValueView = Static<typeof SecretValueSchema>;
/** A secret version's metadata. */
export type SecretVersionView = Static<typeof SecretVersionSchema>;

/** A list page. */
export interface PageResult<T> {
  items: T[];
  nextPageToken?: string;
}

/** `?pageSize=&pageToken=` of a list. */
export interface PageOptions {
  readonly pageSize?: number;
  readonly pageToken?: string;
}

/** A project. */
export interface ProjectRef {
  readonly projectId: string;
}
/** A region of a project. */
export interface RegionRef extends ProjectRef {
  readonly regionId: string;
}
/** A key ring. */
export interface KeyRingRef extends RegionRef {
  readonly keyRingId: string;
}
/** A KMS key. */
export interface KeyRef extends KeyRingRef {
  readonly keyId: string;
}
/** A KMS key version. */
export interface KeyVersionRef extends KeyRef {
  readonly version: number;
}
/** A Secrets Manager instance. */
export interface InstanceRef extends RegionRef {
  readonly instanceId: string;
}
/** A secret, by its path (`prod/db/password`). */
export interface SecretRef extends InstanceRef {
  readonly secret: string;
}
/** A database connection of an instance (dynamic PostgreSQL credentials). */
export interface DatabaseRef extends InstanceRef {
  readonly database: string;
}
/** A role of a database connection (what `issue` creates credentials from). */
export interface DatabaseRoleRef extends DatabaseRef {
  readonly role: string;
}
/** A service account. */
export interface ServiceAccountRef extends ProjectRef {
  readonly email: string;
}
/** Anything that carries an IAM policy: the root (`'root'`), a project, key ring, key, instance, secret, database connection, database role or service account. */
export type PolicyResource =
  | 'root'
  | ProjectRef
  | KeyRingRef
  | KeyRef
  | InstanceRef
  | SecretRef
  | DatabaseRef
  | DatabaseRoleRef
  | ServiceAccountRef;

/** Encodes one URL path segment (a secret path becomes ONE segment: `prod%2Fdb`). */
export const seg = (value: string | number): string => encodeURIComponent(String(value));

/** `/v2/projects/{p}/regions/{r}`. */
export function regionPath(ref: RegionRef): string {
  return `/v2/projects/${seg(ref.projectId)}/regions/${seg(ref.regionId)}`;
}
/** `…/keyrings/{ring}`. */
export function keyRingPath(ref: KeyRingRef): string {
  return `${regionPath(ref)}/keyrings/${seg(ref.keyRingId)}`;
}
/** `…/keys/{key}`. */
export function keyPath(ref: KeyRef): string {
  return `${keyRingPath(ref)}/keys/${seg(ref.keyId)}`;
}
/** `…/instances/{i}`. */
export function instancePath(ref: InstanceRef): string {
  return `${regionPath(ref)}/instances/${seg(ref.instanceId)}`;
}
/** `…/secrets/{path as one segment}`. */
export function secretPath(ref: SecretRef): string {
  return `${instancePath(ref)}/secrets/${seg(ref.secret)}`;
}
/** `…/instances/{i}/databases/{db}`. */
export function databasePath(ref: DatabaseRef): string {
  return `${instancePath(ref)}/databases/${seg(ref.database)}`;
}
/** `…/databases/{db}/roles/{role}`. */
export function databaseRolePath(ref: DatabaseRoleRef): string {
  return `${databasePath(ref)}/roles/${seg(ref.role)}`;
}
/** `/v2/projects/{p}/service-accounts/{email}`. */
export function serviceAccountPath(ref: ServiceAccountRef): string {
  return `/v2/projects/${seg(ref.projectId)}/service-accounts/${seg(ref.email)}`;
}

/** The URL prefix of a resource's `iam-policy` routes. */
export function policyResourcePath(resource: PolicyResource): string {
  if (resource === 'root') return '/v2';
  if ('secret' in resource) return secretPath(resource);
  if ('role' in resource) return databaseRolePath(resource);
  if ('database' in resource) return databasePath(resource);
  if ('instanceId' in resource) return instancePath(resource);
  if ('keyId' in resource) return keyPath(resource);
  if ('keyRingId' in resource) return keyRingPath(resource);
  if ('email' in resource) return serviceAccountPath(resource);
  return `/v2/projects/${seg(resource.projectId)}`;
}

/** The bytes of a getSecretValue answer: `value` as UTF-8, or `binaryValue` decoded. */
export function secretBytes(view: Pick<SecretValueView, 'value' | 'binaryValue'>): Buffer {
  if (view.binaryValue !== undefined) return Buffer.from(view.binaryValue, 'base64');
  return Buffer.from(view.value ?? '', 'utf8');
}

/** The text of a getSecretValue answer (`binaryValue` decoded as UTF-8). */
export function secretText(view: Pick<SecretValueView, 'value' | 'binaryValue'>): string {
  if (view.value !== undefined) return view.value;
  return Buffer.from(view.binaryValue ?? '', 'base64').toString('utf8');
}

/** Walks every page of a list: `fetchPage` gets each next page token (undefined first). */
export async function* iteratePages<T>(
  fetchPage: (pageToken: string | undefined) => Promise<PageResult<T>>,
): AsyncGenerator<T, void, undefined> {
  let token: string | undefined;
  do {
    const page = await fetchPage(token);
    yield* page.items;
    token = page.nextPageToken;
  } while (token);
}
