// The `coffer` package export: a typed client for Coffer's HTTP API and a caching secret reader.
export type {
  BindingView,
  Condition,
  CreateRoleBody,
  CreateServiceAccountBody,
  CreateUserBody,
  PolicyView,
  RoleView,
  ServiceAccountView,
  SetPolicyBody,
} from '../core/api/iam-schemas.ts';
export type {
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
export type {
  CreateProjectBody,
  ProjectView,
  RegionView,
  UpdateProjectBody,
} from '../core/api/projects-schemas.ts';
export type {
  AuditPublicKeyView,
  BatchGetValuesView,
  PutValueView,
  StageView,
  UserView,
} from '../core/api/route-answer-schemas.ts';
export type {
  CreateSecretBody,
  InstanceBody,
  InstanceView,
  PatchSecretBody,
  PutValueBody,
  SecretView,
} from '../core/api/secrets-schemas.ts';
export type {
  CreateServiceAccountKeyBody,
  ServiceAccountKeyFile,
  ServiceAccountKeyView,
  TokenExchangeView,
} from '../core/api/service-account-key-schemas.ts';
export type { HealthView, InitView, SealStatusView } from '../core/api/sys-schemas.ts';
export type { AccessKeyView, CreatedAccessKeyView } from '../core/api/access-key-schemas.ts';
export { type AccessKeyOwner, AccessKeysApi } from './access-keys-api.ts';
export { AuditApi, type AuditScope } from './audit-api.ts';
export type { ChangeEvent } from './change-event-parser.ts';
export { type ChangeStreamOptions, type ReconnectInfo, type ReconnectOptions } from './change-stream.ts';
export { ChangesApi, type ChangesListOptions, type ChangesPage } from './changes-api.ts';
export {
  CachedSecretReader,
  type CachedSecretReaderOptions,
  type CacheStats,
} from './cached-secret-reader.ts';
export { CofferClient } from './client.ts';
export type {
  CreateDatabaseBody,
  DatabaseRoleView,
  DatabaseView,
  DurationValue,
  IssuedCredentialView,
  LeaseView,
  PatchDatabaseBody,
  PutDatabaseRoleBody,
  RevokedCountView,
} from './database-types.ts';
export { DatabasesApi, type LeaseListQuery } from './databases-api.ts';
export {
  type CallOptions,
  type ClientOptions,
  HttpTransport,
  parseRetryAfterMs,
  type RequestSpec,
  type RetryOptions,
} from './http-transport.ts';
export { IamApi } from './iam-api.ts';
export { type KeyLifecycleAction, KmsApi } from './kms-api.ts';
export { LeasesApi } from './leases-api.ts';
export { type OperationRef, OperationsApi, type WaitOptions } from './operations-api.ts';
export { ProjectsApi, SysApi } from './projects-api.ts';
export type {
  PostgresqlRotator,
  RandomRotator,
  RotateSecretView,
  RotationStatusView,
  RotatorConfig,
  WebhookRotator,
} from './rotation-types.ts';
export { CofferApiError, CofferConnectionError } from './sdk-errors.ts';
export {
  readServiceAccountKeyFile,
  ServiceAccountKeyTokenSource,
  type ServiceAccountKeyTokenOptions,
  serviceAccountKeyToken,
  serviceAccountKeyTokenProvider,
  signServiceAccountAssertion,
} from './service-account-key-token.ts';
export {
  type AuditEventView,
  type AuditQuery,
  type AuditVerifyView,
  type CiphertextView,
  type DatabaseRef,
  type DatabaseRoleRef,
  type DataKeyView,
  type DependentsView,
  type InstanceRef,
  type IssuedTokenView,
  iteratePages,
  type KeyRef,
  type KeyRingRef,
  type KeyVersionRef,
  type LoginView,
  type MacView,
  type OperationView,
  type PageOptions,
  type PageResult,
  type PermissionView,
  type PlaintextView,
  type PolicyResource,
  type ProjectRef,
  type PublicKeyView,
  type RegionRef,
  type SecretRef,
  type SecretValueView,
  type SecretVersionView,
  type ServiceAccountRef,
  type SignatureView,
  secretBytes,
  secretText,
  type TestPermissionsView,
  type TokenInfoView,
  type ValidView,
} from './sdk-types.ts';
export { SecretsApi, secretValueFields, type VersionSelector } from './secrets-api.ts';
export { verifyWebhookSignature, webhookSignatureHeader } from '../core/webhook-signature.ts';
