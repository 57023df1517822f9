import { allPermissions, type Permission } from './permissions.ts';

const kmsAdmin: Permission[] = [
  'projects.get',
  'regions.list',
  'kms.key_rings.create',
  'kms.key_rings.get',
  'kms.key_rings.list',
  'kms.keys.create',
  'kms.keys.get',
  'kms.keys.list',
  'kms.keys.rotate',
  'kms.keys.enable',
  'kms.keys.disable',
  'kms.keys.schedule_deletion',
  'kms.keys.cancel_deletion',
  'kms.key_versions.list',
  'kms.key_versions.get',
  'kms.key_versions.enable',
  'kms.key_versions.disable',
  'kms.key_versions.destroy',
  'kms.key_versions.restore',
  'kms.key_versions.get_public_key',
  'kms.keys.update',
  'kms.grants.create',
  'kms.grants.list',
  'kms.grants.revoke',
  'iam.policies.get',
  'iam.policies.set',
];

const kmsViewer: Permission[] = [
  'projects.get',
  'regions.list',
  'kms.key_rings.get',
  'kms.key_rings.list',
  'kms.keys.get',
  'kms.keys.list',
  'kms.key_versions.list',
  'kms.key_versions.get',
  'kms.key_versions.get_public_key',
];

const secretsMetadata: Permission[] = [
  'projects.get',
  'regions.list',
  'secrets.instances.get',
  'secrets.instances.list',
  'secrets.secrets.get',
  'secrets.secrets.list',
  'secrets.versions.list',
  'secrets.versions.get',
  'secrets.operations.get',
];

const secretsAdmin: Permission[] = [
  ...secretsMetadata,
  'secrets.instances.create',
  'secrets.instances.update',
  'secrets.instances.delete',
  'secrets.secrets.create',
  'secrets.secrets.update',
  'secrets.secrets.delete',
  'secrets.secrets.restore',
  'secrets.secrets.rotate',
  'secrets.get_value',
  'secrets.put_value',
  'secrets.versions.enable',
  'secrets.versions.disable',
  'secrets.versions.destroy',
  'secrets.stages.update',
  'secrets.databases.create',
  'secrets.databases.get',
  'secrets.databases.list',
  'secrets.databases.update',
  'secrets.databases.delete',
  'secrets.leases.issue',
  'secrets.leases.list',
  'secrets.leases.revoke',
  'iam.policies.get',
  'iam.policies.set',
];

/**
 * The predefined roles (SPEC §7) and the exact permissions each grants (`GET /v2/roles`). Least
 * privilege: `secretAccessor` reads values only, `viewer` metadata only; crypto use and key
 * administration are separate KMS roles; acting as a service account is its own role.
 */
const roleTable: Readonly<Record<string, { title: string; permissions: readonly Permission[] }>> = {
  'roles/owner': { title: 'Owner: every permission', permissions: allPermissions },
  'roles/secretsmanager.admin': { title: 'Secrets Manager Admin', permissions: secretsAdmin },
  'roles/secretsmanager.reader': {
    title: 'Secrets Manager Reader (metadata and values)',
    permissions: [...secretsMetadata, 'secrets.get_value'],
  },
  'roles/secretsmanager.secretAccessor': {
    title: 'Secret Accessor (values only)',
    permissions: ['secrets.get_value'],
  },
  'roles/secretsmanager.secretVersionAdder': {
    title: 'Secret Version Adder',
    permissions: ['secrets.put_value'],
  },
  'roles/secretsmanager.databaseCredentialUser': {
    title: 'Database Credential User (issue dynamic credentials; bind on a database role)',
    permissions: ['secrets.leases.issue'],
  },
  'roles/secretsmanager.viewer': {
    title: 'Secrets Manager Viewer (metadata only)',
    permissions: secretsMetadata,
  },
  'roles/kms.admin': { title: 'KMS Admin (no crypto use)', permissions: kmsAdmin },
  'roles/kms.cryptoKeyEncrypterDecrypter': {
    title: 'KMS CryptoKey Encrypter/Decrypter',
    permissions: ['kms.encrypt', 'kms.decrypt', 'kms.generate_data_key', 'kms.rewrap'],
  },
  'roles/kms.signerVerifier': {
    title: 'KMS Signer/Verifier',
    permissions: ['kms.sign', 'kms.verify', 'kms.mac', 'kms.verify_mac', 'kms.key_versions.get_public_key'],
  },
  'roles/kms.viewer': { title: 'KMS Viewer', permissions: kmsViewer },
  'roles/audit.viewer': { title: 'Audit Viewer', permissions: ['audit.events.list', 'projects.get'] },
  'roles/metrics.reader': { title: 'Metrics Reader (Prometheus scrape)', permissions: ['sys.metrics.read'] },
  'roles/iam.admin': {
    title: 'IAM Admin',
    permissions: [
      'projects.get',
      'iam.policies.get',
      'iam.policies.set',
      'iam.roles.create',
      'iam.roles.list',
      'iam.service_accounts.create',
      'iam.service_accounts.get',
      'iam.service_accounts.list',
      'iam.service_accounts.disable',
      'iam.service_accounts.enable',
      // Not iam.service_account_tokens.create: a token is the account's identity (see role-escalation.ts).
      'iam.service_account_tokens.list',
      'iam.service_account_tokens.delete',
      // Not iam.service_account_keys.create either: a key is the account's identity too.
      'iam.service_account_keys.list',
      'iam.service_account_keys.get',
      'iam.service_account_keys.disable',
      'iam.service_account_keys.enable',
      'iam.service_account_keys.delete',
      // Not iam.access_keys.create either (an AWS access key is the account's identity too).
      'iam.access_keys.list',
      'iam.access_keys.disable',
      'iam.access_keys.enable',
      'iam.access_keys.delete',
    ],
  },
  'roles/iam.serviceAccountUser': {
    title: 'Service Account User (act as)',
    permissions: ['iam.service_accounts.act_as'],
  },
};

/** Every predefined role may read the API description. */
export const predefinedRoles: Readonly<
  Record<string, { title: string; permissions: readonly Permission[] }>
> = Object.fromEntries(
  Object.entries(roleTable).map(([name, role]) => [
    name,
    {
      title: role.title,
      permissions: role.permissions.includes('sys.openapi.get')
        ? role.permissions
        : [...role.permissions, 'sys.openapi.get'],
    },
  ]),
);

/** The permissions of a predefined role, or undefined. */
export function predefinedRolePermissions(role: string): readonly Permission[] | undefined {
  return predefinedRoles[role]?.permissions;
}
