import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();
const dayMs = 86_400_000;

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(
    `key version destroy and dependents (${engine})`,
    {
      skip: engine === 'postgres' ? (postgresSkip ?? false) : false,
    },
    () => {
      let node: TestNode;
      let database: TestDatabase | undefined;
      const clock = new ManualClock(Date.UTC(2026, 5, 1));
      let admin: string;
      let kmsAdmin: string;
      let kmsViewer: string;
      let projectId: string;
      let keysPath: string;
      let keyId: string;
      let secretPath: string;
      let secretResource: string;

      const as = (token: string) => ({
        get: (path: string) => call(node.url, 'GET', path, { token }),
        post: (path: string, body: unknown = {}) => call(node.url, 'POST', path, { token, body }),
      });
      const versionPath = (n: number, action = '') => `${keysPath}/${keyId}/versions/${n}${action}`;

      let kmsViewerEmail: string;
      async function serviceAccount(name: string, role: string): Promise<string> {
        const sa = await as(admin).post(`/v2/projects/${projectId}/service-accounts`, { name });
        assert.equal(sa.status, 201, JSON.stringify(sa.body));
        const email = sa.body.email as string;
        if (name === 'kms-viewer') kmsViewerEmail = email;
        const bound = await as(admin).post(`/v2/projects/${projectId}/iam-policy:add-binding`, {
          role,
          member: `serviceAccount:${email}`,
        });
        assert.equal(bound.status, 200, JSON.stringify(bound.body));
        const issued = await as(admin).post(
          `/v2/projects/${projectId}/service-accounts/${encodeURIComponent(email)}/tokens`,
        );
        assert.equal(issued.status, 201, JSON.stringify(issued.body));
        return issued.body.token;
      }

      before(async () => {
        const env: Record<string, string> = { COFFER_REGIONS: 'eu01', COFFER_KMS_REGIONS: 'eu01' };
        if (engine === 'postgres') {
          database = await createTestDatabase();
          env.COFFER_DATABASE_URL = database.url;
        }
        node = await startTestNode({ env, clock });
        admin = node.adminToken!;
        projectId = (await as(admin).post('/v2/projects', { displayName: 'kv' })).body.id;
        const ring = await as(admin).post(`/v2/projects/${projectId}/regions/eu01/keyrings`, {
          displayName: 'r',
        });
        keysPath = `/v2/projects/${projectId}/regions/eu01/keyrings/${ring.body.id}/keys`;
        const key = await as(admin).post(keysPath, { algorithm: 'aes256-gcm96' });
        keyId = key.body.id;
        const instance = await as(admin).post(`/v2/projects/${projectId}/regions/eu01/instances`, {
          name: 'i',
        });
        const instanceBase = `/v2/projects/${projectId}/regions/eu01/instances/${instance.body.id}`;
        const created = await as(admin).post(`${instanceBase}/secrets`, {
          path: 'team-a/db',
          value: 'bound to version 1',
          kmsKeyIdentity: key.body.name,
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        secretPath = `${instanceBase}/secrets/${encodeURIComponent('team-a/db')}`;
        secretResource = `projects/${projectId}/regions/eu01/instances/${instance.body.id}/secrets/team-a%2Fdb`;
        assert.equal((await as(admin).post(`${keysPath}/${keyId}/rotate`)).status, 200);
        kmsAdmin = await serviceAccount('kms-admin', 'roles/kms.admin');
        kmsViewer = await serviceAccount('kms-viewer', 'roles/kms.viewer');
      });
      after(async () => {
        await node?.destroy();
        await database?.drop();
      });

      test('destroying a version that wraps a live secret version is refused with 409, naming what the caller may see', async () => {
        const refused = await as(admin).post(versionPath(1, '/destroy'));
        assert.equal(refused.status, 409, JSON.stringify(refused.body));
        assert.equal(refused.body.error.code, 'conflict');
        assert.match(refused.body.error.message, /1 live secret version\(s\) in 1 secret\(s\)/);
        assert.ok(refused.body.error.message.includes(secretResource), refused.body.error.message);
        assert.match(refused.body.error.message, /force=true/);

        // A KMS admin who may not read the secret learns that it exists, not its path.
        const hidden = await as(kmsAdmin).post(versionPath(1, '/destroy'));
        assert.equal(hidden.status, 409, JSON.stringify(hidden.body));
        assert.match(hidden.body.error.message, /1 live secret version\(s\) in 1 secret\(s\)/);
        assert.ok(!hidden.body.error.message.includes('team-a'), hidden.body.error.message);

        assert.equal((await as(admin).get(versionPath(1))).body.state, 'enabled');
        assert.equal((await as(admin).get(`${secretPath}/value`)).body.value, 'bound to version 1');
      });

      test('a forced destroy is scheduled (destroy_scheduled, window as keys); the secret is unreadable until restore', async () => {
        const scheduled = await as(admin).post(`${versionPath(1, '/destroy')}?force=true`);
        assert.equal(scheduled.status, 200, JSON.stringify(scheduled.body));
        assert.equal(scheduled.body.state, 'destroy_scheduled');
        assert.equal(Date.parse(scheduled.body.destroyTime), clock.nowMs() + 30 * dayMs);
        const read = await as(admin).get(`${secretPath}/value`);
        assert.equal(read.status, 400);
        assert.equal(read.body.error.code, 'key_not_active');
        const enable = await as(admin).post(versionPath(1, '/enable'));
        assert.equal(enable.status, 400);
        assert.equal(enable.body.error.code, 'failed_precondition');

        const restored = await as(admin).post(versionPath(1, '/restore'));
        assert.equal(restored.status, 200, JSON.stringify(restored.body));
        assert.equal(restored.body.state, 'disabled');
        assert.equal(restored.body.destroyTime, null);
        assert.equal((await as(admin).post(versionPath(1, '/enable'))).body.state, 'enabled');
        assert.equal((await as(admin).get(`${secretPath}/value`)).body.value, 'bound to version 1');
        assert.equal((await as(admin).post(versionPath(1, '/restore'))).status, 400);
      });

      test('a scheduled destruction is carried out by the background job when its window ends', async () => {
        const bad = await as(admin).post(`${versionPath(1, '/destroy')}?force=true&pendingWindowDays=3`);
        assert.equal(bad.status, 400);
        const scheduled = await as(admin).post(
          `${versionPath(1, '/destroy')}?force=true&pendingWindowDays=7`,
        );
        assert.equal(scheduled.status, 200, JSON.stringify(scheduled.body));
        assert.equal(Date.parse(scheduled.body.destroyTime), clock.nowMs() + 7 * dayMs);
        clock.advance(6 * dayMs);
        await node.app.runBackgroundJobs();
        assert.equal((await as(admin).get(versionPath(1))).body.state, 'destroy_scheduled');
        clock.advance(2 * dayMs);
        await node.app.runBackgroundJobs();
        const version = await as(admin).get(versionPath(1));
        assert.equal(version.body.state, 'destroyed');
        assert.equal((await as(admin).post(versionPath(1, '/restore'))).status, 400);
        assert.equal((await as(admin).get(`${secretPath}/value`)).status, 400);
        const events = await as(admin).get(
          `/v2/projects/${projectId}/audit/events?action=kms.key_versions.destroy`,
        );
        if (events.status === 200) {
          assert.ok(
            events.body.items.some(
              (e: { principal: string; details?: { keyVersion?: number } }) =>
                e.principal === 'service:kms' && e.details?.keyVersion === 1,
            ),
            JSON.stringify(events.body),
          );
        }
      });

      test('a version nothing depends on is destroyed at once, without force', async () => {
        assert.equal((await as(admin).post(`${keysPath}/${keyId}/rotate`)).status, 200);
        const destroyed = await as(admin).post(versionPath(2, '/destroy'));
        assert.equal(destroyed.status, 200, JSON.stringify(destroyed.body));
        assert.equal(destroyed.body.state, 'destroyed');
      });

      test('GET …/dependents names only the secrets the caller may read, and counts all of them', async () => {
        const key = await as(admin).post(keysPath, { algorithm: 'aes256-gcm96' });
        const instances = await as(admin).get(`/v2/projects/${projectId}/regions/eu01/instances`);
        const instanceId = instances.body.items[0].id as string;
        const base = `/v2/projects/${projectId}/regions/eu01/instances/${instanceId}`;
        for (const path of ['team-b/one', 'team-b/two']) {
          const created = await as(admin).post(`${base}/secrets`, {
            path,
            value: 'x',
            kmsKeyIdentity: key.body.name,
          });
          assert.equal(created.status, 201, JSON.stringify(created.body));
        }
        const dependentsPath = `${keysPath}/${key.body.id}/dependents`;
        const full = await as(admin).get(dependentsPath);
        assert.equal(full.status, 200, JSON.stringify(full.body));
        assert.equal(full.body.secretCount, 2);
        assert.equal(full.body.secrets.length, 2);
        const viewer = await as(kmsViewer).get(dependentsPath);
        assert.equal(viewer.status, 200, JSON.stringify(viewer.body));
        assert.deepEqual(viewer.body.secrets, []);
        assert.deepEqual(viewer.body.instances, []);
        assert.equal(viewer.body.secretCount, 2);
        assert.equal(viewer.body.instanceCount, 0);

        // Granted one of the two secrets: that one is named, the other only counted.
        const secretOne = `${base}/secrets/${encodeURIComponent('team-b/one')}`;
        const granted = await as(admin).post(`${secretOne}/iam-policy:add-binding`, {
          role: 'roles/secretsmanager.viewer',
          member: `serviceAccount:${kmsViewerEmail}`,
        });
        assert.equal(granted.status, 200, JSON.stringify(granted.body));
        await node.app.syncChanges();
        const partial = await as(kmsViewer).get(dependentsPath);
        assert.deepEqual(partial.body.secrets, [
          `projects/${projectId}/regions/eu01/instances/${instanceId}/secrets/team-b%2Fone`,
        ]);
        assert.equal(partial.body.secretCount, 2);
      });
    },
  );
}
