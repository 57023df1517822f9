import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CompiledQuery, type Kysely } from 'kysely';
import { splitUnsealKey } from '../barrier/barrier.ts';
import { createSealKeyFile, readSealKeyFile, writeSecretFile } from '../barrier/seal-key-file.ts';
import {
  createSealRecord,
  hashShares,
  parseSealRecord,
  type SealRecord,
  type SealType,
  sealKeyBytes,
} from '../barrier/seal-record.ts';
import { CofferError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { IamRepo } from '../iam/iam-repo.ts';
import { rootResource } from '../iam/resource-names.ts';
import { initialAdminPrincipal } from '../iam/principal.ts';
import { insertToken } from '../iam/token-repo.ts';
import { mintToken } from '../iam/token-service.ts';
import type { Database } from '../storage/schema.ts';
import type { Storage, WriteStatement } from '../storage/storage-types.ts';
import { insertSystemRecord, readSystemRecord } from '../storage/system-repo.ts';

/** Name of the system record holding the seal record. */
export const sealRecordName = 'seal';

/** A fatal start-up problem with the seal; the CLI prints the message and exits. */
export class SealStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SealStartError';
  }
}

async function execute(trx: Kysely<Database>, statements: readonly WriteStatement[]): Promise<void> {
  for (const statement of statements)
    await trx.executeQuery(CompiledQuery.raw(statement.sql, [...statement.parameters]));
}

/** Reads the stored seal record, if any. */
export async function loadSealRecord(db: Kysely<Database>): Promise<SealRecord | undefined> {
  const json = await readSystemRecord(db, sealRecordName);
  if (json === undefined) return undefined;
  try {
    return parseSealRecord(json);
  } catch {
    throw new SealStartError('the stored seal record is corrupted; restore the database from a backup');
  }
}

/** The outcome of an initialization attempt. */
export interface InitOutcome {
  /** The seal record now in storage. */
  readonly record: SealRecord;
  /** The first admin's token, when this call did the initialization. */
  readonly adminToken?: string;
}

/**
 * Initializes once, under the `init` lock, so that several nodes starting on one PostgreSQL agree:
 * the first stores the seal record, the root policy (first admin = roles/owner) and the admin token;
 * the others find it done and get the stored record. `beforeCommit` runs inside the lock with the
 * token, before the transaction commits (the file seal writes the root-token file there).
 */
export async function initializeOnce(
  storage: Storage,
  makeRecord: () => SealRecord,
  nowMs: number,
  beforeCommit?: (adminToken: string) => void,
): Promise<InitOutcome> {
  return storage.withLock('init', async (trx) => {
    const existing = await loadSealRecord(trx);
    if (existing) return { record: existing };
    const record = makeRecord();
    const admin = mintToken(initialAdminPrincipal, nowMs);
    const rootPolicy = {
      resource: rootResource,
      bindings: [{ role: 'roles/owner', members: [initialAdminPrincipal] }],
      etag: 'initial',
      updateTimeMs: nowMs,
    };
    await execute(trx, [
      insertSystemRecord(trx, sealRecordName, JSON.stringify(record), nowMs),
      new IamRepo(trx).insertPolicy(rootPolicy, undefined),
      insertToken(trx, admin.row),
    ]);
    beforeCommit?.(admin.token);
    return { record, adminToken: admin.token };
  });
}

/**
 * Start-up of the file seal: use the key file in the data dir (created with mode 0600 on a fresh
 * data dir, never overwritten), initialize if nobody has, and return the unseal key. A missing or
 * wrong key file for an initialized store is fatal, with nothing changed.
 */
export async function startFileSeal(
  storage: Storage,
  dataDir: string,
  nowMs: number,
  logger: Logger,
): Promise<{ record: SealRecord; unsealKey: Buffer }> {
  const keyPath = join(dataDir, 'seal.key');
  const stored = await loadSealRecord(storage.db);
  if (stored) {
    if (stored.type !== 'file')
      throw new SealStartError(`the data was initialized with the ${stored.type} seal, not file`);
    const key = readSealKeyFile(keyPath);
    if (!key)
      throw new SealStartError(
        `seal key file ${keyPath} is missing; the data was sealed with it: restore it`,
      );
    return { record: stored, unsealKey: key };
  }
  const tokenPath = join(dataDir, 'root-token');
  // Checked before anything is created; the file is also created exclusively below (a race).
  if (existsSync(tokenPath)) throw staleTokenFile(tokenPath);
  let key = readSealKeyFile(keyPath);
  if (!key) {
    key = createSealKeyFile(keyPath);
    logger.warn(
      { path: keyPath },
      'created the seal key file (file seal: a development convenience; keep it safe)',
    );
  }
  const unsealKey = key;
  const outcome = await initializeOnce(
    storage,
    () => createSealRecord('file', unsealKey, nowMs),
    nowMs,
    (token) => {
      try {
        writeSecretFile(tokenPath, `${token}\n`);
      } catch (err) {
        // Thrown inside the init transaction: it rolls back, so the store stays uninitialized.
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw staleTokenFile(tokenPath);
        throw err;
      }
    },
  );
  if (outcome.adminToken)
    logger.warn({ path: tokenPath }, 'initialized; the first admin token was written to this file');
  return { record: outcome.record, unsealKey };
}

function staleTokenFile(tokenPath: string): SealStartError {
  return new SealStartError(
    `${tokenPath} exists but this store is not initialized: it holds the token of another ` +
      'initialization and is never overwritten; move it away (or use another data dir), then start again',
  );
}

/** What `POST /v2/sys/init` returns once: the Shamir shares and the first admin token. */
export interface ShamirInitResult {
  readonly record: SealRecord;
  readonly shares: string[];
  readonly adminToken: string;
}

/** Initializes a Shamir-sealed store; `already_exists` when it is initialized already. */
export async function initializeShamir(
  storage: Storage,
  type: SealType,
  secretShares: number,
  secretThreshold: number,
  nowMs: number,
): Promise<ShamirInitResult> {
  if (type !== 'shamir')
    throw new CofferError('already_exists', 'This node uses the file seal and initializes itself.');
  if (secretThreshold > secretShares) {
    throw new CofferError('invalid_argument', 'secretThreshold must not exceed secretShares.');
  }
  if (secretThreshold < 2 || secretShares > 255) {
    throw new CofferError(
      'invalid_argument',
      'secretThreshold must be at least 2 and secretShares at most 255.',
    );
  }
  const unsealKey = randomBytes(sealKeyBytes);
  try {
    const shares = await splitUnsealKey(unsealKey, secretShares, secretThreshold);
    const outcome = await initializeOnce(
      storage,
      () =>
        createSealRecord('shamir', unsealKey, nowMs, {
          secretShares,
          secretThreshold,
          shareHashes: hashShares(shares),
        }),
      nowMs,
    );
    if (!outcome.adminToken) throw new CofferError('already_exists', 'Coffer is already initialized.');
    return {
      record: outcome.record,
      shares: shares.map((s) => s.toString('base64')),
      adminToken: outcome.adminToken,
    };
  } finally {
    unsealKey.fill(0);
  }
}
