/**
 * The contract between the AWS face's core (wire, SigV4, authorization, audit) and its operations
 * (Secrets Manager in `secretsmanager/`, KMS in `kms/`). An operation only translates AWS's JSON to
 * Coffer's services and back; everything it needs from the request arrives in an {@link AwsCall}.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import type { Principal } from '../iam/principal.ts';
import type { Permission } from '../iam/permissions.ts';
import type { Caller } from '../secrets/secret-types.ts';

/** One authenticated AWS request as an operation sees it. */
export interface AwsCall {
  readonly service: 'secretsmanager' | 'kms';
  /** The operation's name, e.g. `GetSecretValue`. */
  readonly operation: string;
  /** The access key's owner. */
  readonly principal: Principal;
  /** The access key's project (its awsAccountId is the account). */
  readonly projectId: string;
  /** The project's 12-digit AWS account id. */
  readonly accountId: string;
  /** The credential scope's region; exists as a Coffer region with KMS. */
  readonly regionId: string;
  readonly requestId: string;
  /** What native services take as the caller (principal, requestId, extra audit events). */
  readonly caller: Caller;
  /**
   * Checks `permission` on the full Coffer resource name; throws AwsError AccessDeniedException when not held.
   * The FIRST authorize() names the request's audit event (action = permission unless `auditAction` given,
   * resource = that resource), as the native guard does; later calls (a second resource, e.g. the KMS key of
   * CreateSecret or ReEncrypt's destination) only check. Call it before reading anything the caller may not see.
   * `shownAs` is the resource a refusal's message names instead (what the caller named, e.g. an alias's
   * placeholder: the key an alias points at is told only to callers allowed to use it).
   */
  authorize(
    permission: Permission,
    resource: string,
    opts?: { auditAction?: string; shownAs?: string },
  ): Promise<void>;
  /** Identifiers added to the audit event (like request.auditDetails), e.g. { version: 3 }. Never values. */
  auditDetails: Record<string, string | number | boolean>;
}

/** One AWS operation: its input schema, whether it writes, and its handler. */
export interface AwsOperation<S extends TSchema = TSchema> {
  /** TypeBox schema of the JSON body, AWS field names; validated by the face before the handler runs. */
  readonly input: S;
  /** true: the audit event goes through the outbox like native writes. */
  readonly changesState: boolean;
  readonly handler: (call: AwsCall, input: Static<S>) => Promise<Record<string, unknown>>;
}

/** Declares an operation with its handler's input typed from the schema. */
export function awsOperation<S extends TSchema>(op: AwsOperation<S>): AwsOperation {
  return op as unknown as AwsOperation;
}
