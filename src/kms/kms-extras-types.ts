import type { Principal } from '../iam/principal.ts';

/** An alias (`alias/…`) naming one key, unique per project and region (issue #18). */
export interface KmsAlias {
  readonly projectId: string;
  readonly regionId: string;
  /** The full alias name, `alias/` included. */
  readonly name: string;
  readonly keyUid: string;
  readonly createTimeMs: number;
  readonly updateTimeMs: number;
}

/** Who manages a key: its users (`CUSTOMER`), or Coffer for an AWS service (`AWS`, `alias/aws/*`). */
export type KeyManager = 'CUSTOMER' | 'AWS';

/** What a key carries beyond its KMS metadata: description, key policy, manager. */
export interface KeyAttributes {
  readonly keyUid: string;
  readonly description: string;
  /** The key policy document (JSON text) as stored; null: the default policy. */
  readonly policy: string | null;
  readonly keyManager: KeyManager;
}

/** A key tag. */
export interface KeyTag {
  readonly key: string;
  readonly value: string;
}

/** Operations a grant may allow (AWS's names). */
export const grantOperations = [
  'Decrypt',
  'Encrypt',
  'GenerateDataKey',
  'GenerateDataKeyWithoutPlaintext',
  'ReEncryptFrom',
  'ReEncryptTo',
  'Sign',
  'Verify',
  'GetPublicKey',
  'CreateGrant',
  'RetireGrant',
  'DescribeKey',
  'GenerateDataKeyPair',
  'GenerateDataKeyPairWithoutPlaintext',
  'GenerateMac',
  'VerifyMac',
] as const;

/** An operation a grant may allow. */
export type GrantOperation = (typeof grantOperations)[number];

/** Conditions on the encryption context of a granted operation. */
export interface GrantConstraints {
  /** The request's context must contain these pairs (and may hold more). */
  readonly encryptionContextSubset?: Readonly<Record<string, string>>;
  /** The request's context must be exactly these pairs. */
  readonly encryptionContextEquals?: Readonly<Record<string, string>>;
}

/** A grant: its grantee may use the key for `operations`, under `constraints`. */
export interface KmsGrant {
  readonly id: string;
  readonly projectId: string;
  readonly regionId: string;
  readonly keyUid: string;
  readonly name: string | null;
  /** The grantee as the caller wrote it (an ARN, or a Coffer principal). */
  readonly granteePrincipal: string;
  /** The Coffer principal the grantee maps to. */
  readonly grantee: Principal;
  readonly retiringPrincipal: string | null;
  readonly retiring: Principal | null;
  readonly operations: readonly GrantOperation[];
  readonly constraints: GrantConstraints | null;
  /** The Coffer principal that created the grant. */
  readonly issuingPrincipal: Principal;
  readonly createTimeMs: number;
}
