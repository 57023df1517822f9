import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runMigrations } from '../src/storage/migrate.ts';
import { migrations } from '../src/storage/migrations/index.ts';
import { openPostgresStorage } from '../src/storage/postgres/postgres-storage.ts';
import { openSqliteStorage } from '../src/storage/sqlite/sqlite-storage.ts';
import { type Storage, stmt, WriteRejected } from '../src/storage/storage-types.ts';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(
    `instance names (${engine})`,
    { skip: engine === 'postgres' ? (postgresSkip ?? false) : false },
    () => {
      let node: TestNode;
      let database: TestDatabase | undefined;
      let admin: string;
      let project: string;
      let instances: string;
      const as = (token: string) => ({
        get: (path: string) => call(node.url, 'GET', path, { token }),
        post: (path: string, body: unknown = {}) => call(node.url, 'POST', path, { token, body }),
        put: (path: string, body: unknown) => call(node.url, 'PUT', path, { token, body }),
      });
      async function serviceAccountToken(name: string, resource: string, role: string): Promise<string> {
        const email = (await as(admin).post(`${project}/service-accounts`, { name })).body.email as string;
        const granted = await as(admin).post(`${resource}/iam-policy:add-binding`, {
          role,
          member: `serviceAccount:${email}`,
        });
        assert.equal(granted.status, 200);
        return (await as(admin).post(`${project}/service-accounts/${encodeURIComponent(email)}/tokens`)).body
          .token;
      }

      before(async () => {
        database = engine === 'postgres' ? await createTestDatabase() : undefined;
        node = await startTestNode({ env: database ? { COFFER_DATABASE_URL: database.url } : {} });
        admin = node.adminToken!;
        project = `/v2/projects/${(await as(admin).post('/v2/projects', { displayName: 'names' })).body.id}`;
        instances = `${project}/regions/local/instances`;
      });
      after(async () => {
        await node?.destroy();
        await database?.drop();
      });

      test('an admin of one instance cannot take another instance’s name (409), so callers by name keep their instance', async () => {
        const a = (await as(admin).post(instances, { name: 'main' })).body.id;
        const b = (await as(admin).post(instances, { name: 'scratch' })).body.id;
        const ci = await serviceAccountToken('ci-writer', project, 'roles/secretsmanager.admin');
        const mallory = await serviceAccountToken(
          'mallory-acct',
          `${instances}/${b}`,
          'roles/secretsmanager.admin',
        );
        assert.equal(
          (await as(ci).post(`${instances}/main/secrets`, { path: 'db', value: 'v1' })).status,
          201,
        );
        const squat = await as(mallory).put(`${instances}/${b}`, { name: 'main' });
        assert.equal(squat.status, 409, JSON.stringify(squat.body));
        assert.equal(squat.body.error.code, 'already_exists');
        const second = await as(admin).post(instances, { name: 'main' });
        assert.equal(second.status, 409);
        const read = await as(ci).get(`${instances}/main/secrets/db/value`);
        assert.equal(read.status, 200);
        assert.equal(read.body.value, 'v1');
        assert.equal(
          (await as(admin).put(`${instances}/${a}`, { name: 'main' })).status,
          200,
          'keeping its name',
        );
      });

      test('a name that looks like a UUID, in any letter case, is refused and never resolves as a name', async () => {
        const uuid = 'A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D';
        for (const name of [uuid, uuid.toLowerCase()]) {
          const created = await as(admin).post(instances, { name });
          assert.equal(created.status, 400, name);
          assert.equal(created.body.error.code, 'invalid_argument');
        }
        const id = (await as(admin).post(instances, { name: 'plain' })).body.id;
        assert.equal((await as(admin).put(`${instances}/${id}`, { name: uuid })).status, 400);
        // A name written before this rule (straight into storage) is not resolved either.
        const { storage } = node.app;
        await storage.write([
          stmt(storage.db.updateTable('sm_instances').set({ name: uuid }).where('id', '=', id)),
        ]);
        assert.equal((await as(admin).get(`${instances}/${uuid}`)).status, 404);
      });
    },
  );

  test(
    `migration 0010 renames every instance sharing a name in a region and makes names unique (${engine})`,
    {
      skip: engine === 'postgres' ? (postgresSkip ?? false) : false,
    },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'coffer-names-'));
      const database = engine === 'postgres' ? await createTestDatabase() : undefined;
      const storage: Storage = database
        ? await openPostgresStorage({ url: database.url, writeTimeoutMs: 5000 })
        : await openSqliteStorage({ file: join(dir, 'coffer.db'), writeTimeoutMs: 5000 });
      try {
        const before = migrations.filter((m) => m.id < '0010');
        await runMigrations(storage, { migrations: before });
        const row = (id: string, name: string, regionId = 'local') => ({
          project_id: 'p',
          region_id: regionId,
          id,
          name,
          kms_key: null,
          kms_key_uid: null,
          etag: 'e',
          create_time: 0,
          update_time: 0,
        });
        const rows = [
          row('id-1', 'main'),
          row('id-2', 'main'),
          row('id-3', 'solo'),
          row('id-4', 'main', 'other'),
        ];
        await storage.write(rows.map((r) => stmt(storage.db.insertInto('sm_instances').values(r))));
        assert.deepEqual(
          await runMigrations(storage),
          migrations.map((m) => m.id).filter((id) => id >= '0010'),
        );
        const names = await storage.db
          .selectFrom('sm_instances')
          .select(['id', 'name', 'etag'])
          .orderBy('id')
          .execute();
        assert.deepEqual(
          names.map((r) => r.name),
          ['main-id-1', 'main-id-2', 'solo', 'main'],
        );
        assert.notEqual(names[0]!.etag, 'e', 'a renamed instance gets a new etag');
        await assert.rejects(
          storage.write([stmt(storage.db.insertInto('sm_instances').values(row('id-5', 'solo')))]),
          (err) => err instanceof WriteRejected && err.reason === 'unique',
        );
      } finally {
        await storage.close();
        await database?.drop();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
}
