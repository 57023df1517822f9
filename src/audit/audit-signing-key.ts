import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { Barrier } from '../barrier/barrier.ts';
import type { Storage } from '../storage/storage-types.ts';
import { insertSystemRecord, readSystemRecord } from '../storage/system-repo.ts';
import { CompiledQuery } from 'kysely';

const recordName = 'audit_signing_key';
const context = 'audit/signing-key/v1';

interface StoredSigningKey {
  publicKeyPem: string;
  sealedPrivateKey: string;
}

/** The Ed25519 public key that verifies audit checkpoints (readable while sealed), if created. */
export async function readAuditPublicKey(storage: Storage): Promise<string | undefined> {
  const json = await readSystemRecord(storage.db, recordName);
  return json ? (JSON.parse(json) as StoredSigningKey).publicKeyPem : undefined;
}

/**
 * The audit signing key, created once per cluster (under a lock) the first time a node is unsealed;
 * the private key is stored sealed by the root key.
 */
export async function loadAuditSigningKey(
  storage: Storage,
  barrier: Barrier,
  nowMs: number,
): Promise<KeyObject> {
  const existing = await readSystemRecord(storage.db, recordName);
  const json =
    existing ??
    (await storage.withLock('audit-signing-key', async (trx) => {
      const again = await readSystemRecord(trx, recordName);
      if (again) return again;
      const pair = generateKeyPairSync('ed25519');
      const der = pair.privateKey.export({ format: 'der', type: 'pkcs8' });
      const stored: StoredSigningKey = {
        publicKeyPem: pair.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
        sealedPrivateKey: barrier.encrypt(der, context).toString('base64'),
      };
      der.fill(0);
      const text = JSON.stringify(stored);
      const statement = insertSystemRecord(trx, recordName, text, nowMs);
      await trx.executeQuery(CompiledQuery.raw(statement.sql, [...statement.parameters]));
      return text;
    }));
  const stored = JSON.parse(json) as StoredSigningKey;
  const der = barrier.decrypt(Buffer.from(stored.sealedPrivateKey, 'base64'), context);
  const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  der.fill(0);
  return key;
}

/** Parses a PEM public key. */
export function auditPublicKey(pem: string): KeyObject {
  return createPublicKey(pem);
}
