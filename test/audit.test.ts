import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { checkpointMessage } from '../src/audit/audit-chain.ts';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();
const b64 = (text: string) => Buffer.from(text).toString('base64');

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(`audit log (${engine})`, { skip: engine === 'postgres' ? (postgresSkip ?? false) : false }, () => {
    let node: TestNode;
    let admin: string;
    let database: TestDatabase | undefined;
    let projectId: string;
    let keyPath: string;
    const planted = 'planted-plaintext-0xC0FFEE';

    /** Runs SQL straight against the database, as an attacker with storage access would. */
    async function tamper(statement: string): Promise<void> {
      if (engine === 'sqlite') {
        const db = new DatabaseSync(join(node.dataDir, 'coffer.db'));
        db.exec(`PRAGMA busy_timeout = 5000; ${statement}`);
        db.close();
      } else {
        const client = new pg.Client({ connectionString: database!.url });
        await client.connect();
        await client.query(statement);
        await client.end();
      }
    }
    const verifyNow = () => call(node.url, 'GET', '/v2/sys/audit/verify', { token: admin });
    const eventsOf = async () =>
      node.app.storage.db.selectFrom('audit_events').selectAll().orderBy('chain_id').orderBy('seq').execute();

    before(async () => {
      const env: Record<string, string> = { COFFER_AUDIT_CHECKPOINT_EVENTS: '5' };
      if (engine === 'postgres') {
        database = await createTestDatabase();
        env.COFFER_DATABASE_URL = database.url;
      }
      node = await startTestNode({ env });
      admin = node.adminToken!;
      projectId = (await call(node.url, 'POST', '/v2/projects', { token: admin, body: {} })).body.id;
      const ring = (
        await call(node.url, 'POST', `/v2/projects/${projectId}/regions/local/keyrings`, {
          token: admin,
          body: { displayName: 'a' },
        })
      ).body.id;
      const key = (
        await call(node.url, 'POST', `/v2/projects/${projectId}/regions/local/keyrings/${ring}/keys`, {
          token: admin,
          body: { algorithm: 'aes256-gcm96' },
        })
      ).body.id;
      keyPath = `/v2/projects/${projectId}/regions/local/keyrings/${ring}/keys/${key}`;
      for (let i = 0; i < 12; i++) {
        const enc = await call(node.url, 'POST', `${keyPath}/encrypt`, {
          token: admin,
          body: { plaintext: b64(planted) },
        });
        await call(node.url, 'POST', `${keyPath}/decrypt`, {
          token: admin,
          body: { ciphertext: enc.body.ciphertext },
        });
      }
      await call(node.url, 'GET', `${keyPath}/versions`); // denied: no token (counted, not a project event)
    });
    after(async () => {
      await node?.destroy();
      await database?.drop();
    });

    test('the chain verifies, checkpoints are signed with the published key', async () => {
      const res = await verifyNow();
      assert.equal(res.status, 200);
      assert.equal(res.body.valid, true, JSON.stringify(res.body));
      assert.ok(res.body.checked >= 27);
      assert.ok(
        res.body.unsigned >= 0 && res.body.unsigned < res.body.checked,
        'most events are covered by a signed checkpoint',
      );
      const pem = (await call(node.url, 'GET', '/v2/sys/audit-public-key')).body.pem;
      const checkpoint = await node.app.storage.db
        .selectFrom('audit_checkpoints')
        .selectAll()
        .executeTakeFirstOrThrow();
      const message = checkpointMessage(
        checkpoint.chain_id,
        Number(checkpoint.seq),
        checkpoint.hash,
        Number(checkpoint.time),
        checkpoint.kind,
        checkpoint.prev_checkpoint,
      );
      assert.ok(verify(null, message, createPublicKey(pem), Buffer.from(checkpoint.signature, 'base64')));
    });

    test('editing a stored event is detected and named', async () => {
      const rows = await eventsOf();
      const victim = rows[7]!;
      await tamper(
        `UPDATE audit_events SET principal = 'user:mallory@evil.example' WHERE id = '${victim.id}'`,
      );
      const res = await verifyNow();
      assert.equal(res.body.valid, false);
      assert.equal(res.body.firstBrokenEventId, victim.id);
      await tamper(`UPDATE audit_events SET principal = '${victim.principal}' WHERE id = '${victim.id}'`);
      assert.equal((await verifyNow()).body.valid, true);
    });

    test('reordering events is detected', async () => {
      const rows = await eventsOf();
      const a = rows[10]!;
      const b = rows[11]!;
      const swap = async (x: typeof a, y: typeof a) => {
        await tamper(`UPDATE audit_events SET seq = -1 WHERE id = '${x.id}'`);
        await tamper(`UPDATE audit_events SET seq = ${x.seq} WHERE id = '${y.id}'`);
        await tamper(`UPDATE audit_events SET seq = ${y.seq} WHERE id = '${x.id}'`);
      };
      await swap(a, b);
      assert.equal((await verifyNow()).body.valid, false);
      await tamper(`UPDATE audit_events SET seq = -1 WHERE id = '${a.id}'`);
      await tamper(`UPDATE audit_events SET seq = ${b.seq} WHERE id = '${b.id}'`);
      await tamper(`UPDATE audit_events SET seq = ${a.seq} WHERE id = '${a.id}'`);
      assert.equal((await verifyNow()).body.valid, true);
    });

    test('a forged checkpoint signature is detected', async () => {
      const checkpoint = await node.app.storage.db
        .selectFrom('audit_checkpoints')
        .selectAll()
        .executeTakeFirstOrThrow();
      const forged = Buffer.from(checkpoint.signature, 'base64');
      forged[0]! ^= 1;
      await tamper(
        `UPDATE audit_checkpoints SET signature = '${forged.toString('base64')}' WHERE chain_id = '${checkpoint.chain_id}' AND seq = ${checkpoint.seq}`,
      );
      assert.equal((await verifyNow()).body.valid, false);
      await tamper(
        `UPDATE audit_checkpoints SET signature = '${checkpoint.signature}' WHERE chain_id = '${checkpoint.chain_id}' AND seq = ${checkpoint.seq}`,
      );
      assert.equal((await verifyNow()).body.valid, true);
    });

    test('queries filter by action, principal, resource prefix, result, request id and time, newest first', async () => {
      const base = `/v2/projects/${projectId}/audit-events`;
      const decrypts = await call(node.url, 'GET', `${base}?action=kms.decrypt&pageSize=5`, { token: admin });
      assert.equal(decrypts.status, 200);
      assert.equal(decrypts.body.items.length, 5);
      assert.ok(decrypts.body.items.every((e: { action: string }) => e.action === 'kms.decrypt'));
      const times = decrypts.body.items.map((e: { time: string }) => Date.parse(e.time));
      assert.deepEqual(
        times,
        [...times].sort((x, y) => y - x),
        'newest first',
      );
      const page2 = await call(
        node.url,
        'GET',
        `${base}?action=kms.decrypt&pageSize=5&pageToken=${decrypts.body.nextPageToken}`,
        { token: admin },
      );
      assert.equal(page2.body.items.length, 5);
      assert.ok(
        !page2.body.items.some((e: { id: string }) =>
          decrypts.body.items.some((d: { id: string }) => d.id === e.id),
        ),
      );
      // The request without a token was refused before authentication: a system tally, not a project event.
      const denied = await call(node.url, 'GET', `${base}?result=denied`, { token: admin });
      assert.deepEqual(denied.body.items, []);
      const byResource = await call(
        node.url,
        'GET',
        `${base}?resource=${encodeURIComponent(`projects/${projectId}/regions/local/keyrings`)}`,
        { token: admin },
      );
      assert.ok(byResource.body.items.length >= 24);
      const none = await call(
        node.url,
        'GET',
        `${base}?principal=${encodeURIComponent('user:nobody@x.example')}`,
        { token: admin },
      );
      assert.deepEqual(none.body.items, []);
      const future = await call(node.url, 'GET', `${base}?since=2999-01-01T00:00:00Z`, { token: admin });
      assert.deepEqual(future.body.items, []);
      const one = decrypts.body.items[0];
      const byRequest = await call(node.url, 'GET', `${base}?requestId=${one.requestId}`, { token: admin });
      assert.deepEqual(
        byRequest.body.items.map((e: { id: string }) => e.id),
        [one.id],
      );
      assert.equal((await call(node.url, 'GET', `${base}?since=yesterday`, { token: admin })).status, 400);
      assert.equal((await call(node.url, 'GET', `${base}?pageToken=garbage`, { token: admin })).status, 400);
      assert.equal((await call(node.url, 'GET', `${base}?colour=red`, { token: admin })).status, 400);
    });

    test('the resource filter matches a name and what is under it, never a sibling sharing its prefix', async () => {
      const region = `/v2/projects/${projectId}/regions/local`;
      const instance = (
        await call(node.url, 'POST', `${region}/instances`, { token: admin, body: { name: 'f' } })
      ).body.id;
      for (const path of ['config', 'config/app', 'config-old', 'configs']) {
        const res = await call(node.url, 'POST', `${region}/instances/${instance}/secrets`, {
          token: admin,
          body: { path, value: 'v' },
        });
        assert.equal(res.status, 201);
        const read = `${region}/instances/${instance}/secrets/${encodeURIComponent(path)}/value`;
        assert.equal((await call(node.url, 'GET', read, { token: admin })).status, 200);
      }
      const secrets = `projects/${projectId}/regions/local/instances/${instance}/secrets`;
      const matched = async (resource: string) => {
        const res = await call(
          node.url,
          'GET',
          `/v2/projects/${projectId}/audit-events?resource=${encodeURIComponent(resource)}&pageSize=1000`,
          { token: admin },
        );
        assert.equal(res.status, 200);
        return [
          ...new Set(res.body.items.map((e: { resource: string }) => e.resource.slice(secrets.length))),
        ].sort();
      };
      assert.deepEqual(await matched(`${secrets}/config`), ['/config', '/config%2Fapp']);
      assert.deepEqual(await matched(`${secrets}/config%2F`), ['/config%2Fapp']);
      assert.deepEqual(await matched(`${secrets}/config-old`), ['/config-old']);
      assert.deepEqual(await matched(`${secrets}/`), ['/config', '/config%2Fapp', '/config-old', '/configs']);
      assert.deepEqual(await matched(`${secrets}/conf`), []);
    });

    test('events of no project (failed logins, counted per address; root) are read at /v2/sys/audit-events', async () => {
      await call(node.url, 'POST', '/v2/auth/login', {
        body: { email: 'ghost@example.com', password: 'not-a-password' },
      });
      await node.app.unauthenticatedAudit.flush();
      const res = await call(node.url, 'GET', '/v2/sys/audit-events?action=auth.unauthenticated', {
        token: admin,
      });
      assert.equal(res.status, 200);
      assert.ok(
        res.body.items.some((e: { details?: { action?: string } }) => e.details?.action === 'auth.login'),
      );
    });

    test('no event carries a plaintext, a ciphertext-derived secret or a token', async () => {
      const all = JSON.stringify(await node.app.storage.db.selectFrom('audit_events').selectAll().execute());
      assert.ok(!all.includes(planted));
      assert.ok(!all.includes(b64(planted)));
      assert.ok(!all.includes(admin));
      for (const line of node.logLines) {
        assert.ok(!line.includes(planted) && !line.includes(b64(planted)) && !line.includes(admin), line);
      }
    });
    test('deleting an event is detected at the event after the gap', async () => {
      const rows = await eventsOf();
      const victim = rows[4]!;
      const next = rows[5]!;
      await tamper(`DELETE FROM audit_events WHERE id = '${victim.id}'`);
      const res = await verifyNow();
      assert.equal(res.body.valid, false);
      assert.equal(res.body.firstBrokenEventId, next.id);
    });
  });
}
