import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { toBuffer } from '../src/storage/schema.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const dayMs = 86_400_000;

/** Names of the data-dir files (db, -wal, -shm…) that still contain `bytes`. */
function filesHolding(dataDir: string, bytes: Buffer): string[] {
  return readdirSync(dataDir)
    .filter((name) => name.startsWith('coffer.db'))
    .filter((name) => readFileSync(join(dataDir, name)).includes(bytes));
}

describe('crypto-shredding on SQLite leaves no erased bytes in any file of the data dir', () => {
  let node: TestNode;
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  let projectId: string;
  let instanceBase: string;
  let keysPath: string;

  const api = (method: string, path: string, body?: unknown) =>
    call(node.url, method, path, { token: node.adminToken, ...(body !== undefined ? { body } : {}) });
  const secretPath = (path: string) => `${instanceBase}/secrets/${encodeURIComponent(path)}`;

  /** The stored ciphertext and wrapped data key of every version of a secret. */
  async function storedVersions(path: string): Promise<Buffer[]> {
    const { storage } = node.app;
    const rows = await storage.db
      .selectFrom('sm_versions')
      .innerJoin('sm_secrets', 'sm_secrets.uid', 'sm_versions.secret_uid')
      .select(['sm_versions.ciphertext', 'sm_versions.wrapped_key'])
      .where('sm_secrets.path', '=', path)
      .execute();
    return rows.flatMap((row) => [toBuffer(row.ciphertext!), toBuffer(row.wrapped_key!)]);
  }

  /** The sealed material of a key's versions. */
  async function storedMaterial(keyId: string): Promise<Buffer[]> {
    const rows = await node.app.storage.db
      .selectFrom('kms_key_versions')
      .innerJoin('kms_keys', 'kms_keys.uid', 'kms_key_versions.key_uid')
      .select('kms_key_versions.material')
      .where('kms_keys.id', '=', keyId)
      .execute();
    return rows.map((row) => toBuffer(row.material!));
  }

  const createKey = async () => {
    const res = await api('POST', keysPath, { algorithm: 'aes256-gcm96' });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body as { id: string; name: string };
  };

  const putSecret = async (path: string, value: string, kmsKeyIdentity?: string) => {
    const res = await api('POST', `${instanceBase}/secrets`, {
      path,
      value,
      ...(kmsKeyIdentity ? { kmsKeyIdentity } : {}),
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
  };

  const assertGone = (what: string, secrets: Buffer[]) => {
    assert.ok(secrets.length > 0);
    for (const bytes of secrets) {
      assert.deepEqual(filesHolding(node.dataDir, bytes), [], `${what} is still on disk`);
    }
  };

  before(async () => {
    node = await startTestNode({ env: { COFFER_REGIONS: 'eu01', COFFER_KMS_REGIONS: 'eu01' }, clock });
    projectId = (await api('POST', '/v2/projects', { displayName: 'shred' })).body.id;
    const ring = await api('POST', `/v2/projects/${projectId}/regions/eu01/keyrings`, { displayName: 'r' });
    keysPath = `/v2/projects/${projectId}/regions/eu01/keyrings/${ring.body.id}/keys`;
    const instance = await api('POST', `/v2/projects/${projectId}/regions/eu01/instances`, { name: 'i' });
    instanceBase = `/v2/projects/${projectId}/regions/eu01/instances/${instance.body.id}`;
  });
  after(async () => {
    await node?.destroy();
  });

  test('destroying a secret version (root-key protection and KMS-bound) erases its ciphertext and wrapped key', async () => {
    const key = await createKey();
    await putSecret('shred/root', 'root-protected-value');
    await putSecret('shred/kms', 'kms-bound-value', key.name);
    const stored = [...(await storedVersions('shred/root')), ...(await storedVersions('shred/kms'))];
    for (const path of ['shred/root', 'shred/kms']) {
      const destroyed = await api('POST', `${secretPath(path)}/versions/1/destroy`);
      assert.equal(destroyed.status, 200, JSON.stringify(destroyed.body));
    }
    assertGone('a destroyed version', stored);
  });

  test('purging a secret now (recoveryWindowDays=0) erases every version', async () => {
    const key = await createKey();
    await putSecret('purge/root', 'root-protected-purged');
    await putSecret('purge/kms', 'kms-bound-purged', key.name);
    const stored = [...(await storedVersions('purge/root')), ...(await storedVersions('purge/kms'))];
    for (const path of ['purge/root', 'purge/kms']) {
      assert.equal((await api('DELETE', `${secretPath(path)}?recoveryWindowDays=0`)).status, 204);
    }
    assertGone('a purged secret', stored);
  });

  test('the background purge (window ended, or expired) erases every version', async () => {
    await putSecret('later/deleted', 'purged-by-the-job');
    const expiring = await api('POST', `${instanceBase}/secrets`, {
      path: 'later/expiring',
      value: 'expired-by-the-job',
      ttl: '3600s',
    });
    assert.equal(expiring.status, 201, JSON.stringify(expiring.body));
    const stored = [...(await storedVersions('later/deleted')), ...(await storedVersions('later/expiring'))];
    assert.equal((await api('DELETE', `${secretPath('later/deleted')}?recoveryWindowDays=1`)).status, 200);
    clock.advance(2 * dayMs);
    await node.app.runBackgroundJobs();
    assert.equal((await api('GET', secretPath('later/deleted'))).status, 404);
    assert.equal((await api('GET', secretPath('later/expiring'))).status, 404);
    assertGone('a secret purged by the background job', stored);
  });

  test('destroying a key version, and the end of a key deletion window, erase the key material', async () => {
    const key = await createKey();
    assert.equal((await api('POST', `${keysPath}/${key.id}/rotate`)).status, 200);
    const material = await storedMaterial(key.id);
    assert.equal(material.length, 2);
    const destroyed = await api('POST', `${keysPath}/${key.id}/versions/1/destroy`);
    assert.equal(destroyed.status, 200, JSON.stringify(destroyed.body));
    assertGone('a destroyed key version', [material[0]!]);

    const doomed = await createKey();
    const doomedMaterial = await storedMaterial(doomed.id);
    const scheduled = await api('POST', `${keysPath}/${doomed.id}/schedule-deletion`, {
      pendingWindowDays: 7,
    });
    assert.equal(scheduled.status, 200, JSON.stringify(scheduled.body));
    clock.advance(8 * dayMs);
    await node.app.runBackgroundJobs();
    assert.equal((await api('GET', `${keysPath}/${doomed.id}`)).body.state, 'destroyed');
    assertGone('the material of a destroyed key', doomedMaterial);
  });
});
