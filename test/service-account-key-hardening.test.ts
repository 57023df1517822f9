import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { importPKCS8, type JWTPayload, SignJWT } from 'jose';
import { ManualClock } from '../src/core/clock.ts';
import type { ServiceAccountKeyFile } from '../src/sdk/index.ts';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();

/** Signs an assertion for `file` at `nowSeconds`, with claims overridden by `claims`. */
async function assertion(file: ServiceAccountKeyFile, nowSeconds: number, claims: JWTPayload = {}) {
  return new SignJWT({
    iss: file.clientEmail,
    sub: file.clientEmail,
    aud: file.tokenUri,
    iat: nowSeconds,
    exp: nowSeconds + 60,
    jti: randomUUID(),
    ...claims,
  })
    .setProtectedHeader({ alg: file.algorithm, kid: file.privateKeyId })
    .sign(await importPKCS8(file.privateKey, file.algorithm));
}

for (const engine of ['sqlite', 'postgres'] as const)
  describe(
    `service-account keys: enable and replay hardening (${engine})`,
    {
      skip: engine === 'postgres' ? (postgresSkip ?? false) : false,
    },
    () => {
      let database: TestDatabase | undefined;
      const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);
      let node: TestNode;
      let admin: string;
      let projectId: string;
      const post = (path: string, body: unknown = {}, token = admin) =>
        call(node.url, 'POST', path, { token, body });
      const exchange = (signed: string) =>
        call(node.url, 'POST', '/v2/auth/token', {
          body: { grantType: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: signed },
        });
      const accountPath = (email: string) =>
        `/v2/projects/${projectId}/service-accounts/${encodeURIComponent(email)}`;
      async function account(name: string, role?: string, condition?: unknown) {
        const email = (await post(`/v2/projects/${projectId}/service-accounts`, { name })).body
          .email as string;
        if (role) {
          const bound = await post(`/v2/projects/${projectId}/iam-policy:add-binding`, {
            role,
            member: `serviceAccount:${email}`,
            ...(condition ? { condition } : {}),
          });
          assert.equal(bound.status, 200, JSON.stringify(bound.body));
        }
        return { email, token: (await post(`${accountPath(email)}/tokens`)).body.token as string };
      }
      async function disabledKey(email: string): Promise<ServiceAccountKeyFile> {
        const file = (await post(`${accountPath(email)}/keys`, { algorithm: 'EdDSA' })).body;
        assert.equal((await post(`${accountPath(email)}/keys/${file.privateKeyId}/disable`)).status, 200);
        return file;
      }

      before(async () => {
        const env: Record<string, string> = { COFFER_RATE_LIMIT_LOGINS_PER_MINUTE: '6000' };
        if (engine === 'postgres') {
          database = await createTestDatabase();
          env.COFFER_DATABASE_URL = database.url;
        }
        node = await startTestNode({ clock, env });
        admin = node.adminToken!;
        projectId = (await post('/v2/projects', { displayName: 'keys' })).body.id;
      });
      after(async () => {
        await node?.destroy();
        await database?.drop();
      });

      test('enabling a key needs act_as: an iam.admin without it gets 403 and the key stays disabled', async () => {
        const target = await account('deployer', 'roles/owner');
        const iamAdmin = await account('iam-admin', 'roles/iam.admin');
        const file = await disabledKey(target.email);
        const enable = await post(
          `${accountPath(target.email)}/keys/${file.privateKeyId}/enable`,
          {},
          iamAdmin.token,
        );
        assert.equal(enable.status, 403);
        assert.match(enable.body.error.message, /iam\.service_accounts\.act_as/);
        const now = Math.floor(clock.nowMs() / 1000);
        assert.equal((await exchange(await assertion(file, now))).status, 401);
        // iam.admin still disables keys; the owner (act_as) enables them.
        assert.equal(
          (await post(`${accountPath(target.email)}/keys/${file.privateKeyId}/enable`)).status,
          200,
        );
        assert.equal((await exchange(await assertion(file, now))).status, 200);
      });

      test('a caller holding act_as only through a time-bound binding enables a key capped at its expiry', async () => {
        const target = await account('deployer2');
        await post(`/v2/projects/${projectId}/roles`, {
          roleId: 'keyEnabler',
          title: 'k',
          permissions: ['iam.service_account_keys.enable', 'iam.service_accounts.act_as'],
        });
        const expiresAt = new Date(clock.nowMs() + 600_000).toISOString();
        const bounded = await account('enabler', `projects/${projectId}/roles/keyEnabler`, {
          title: 'ten minutes',
          expiresAt,
        });
        const file = await disabledKey(target.email);
        const keyPath = `${accountPath(target.email)}/keys/${file.privateKeyId}`;
        const enabled = await post(`${keyPath}/enable`, {}, bounded.token);
        assert.equal(enabled.status, 200, JSON.stringify(enabled.body));
        assert.equal(Date.parse(enabled.body.expireTime), Date.parse(expiresAt));
        const stored = await call(node.url, 'GET', keyPath, { token: admin });
        assert.equal(
          Date.parse(stored.body.expireTime),
          Date.parse(expiresAt),
          'the key expires with the grant',
        );
      });

      test('an assertion whose iat or exp is not a whole number of seconds is refused with 401', async () => {
        const { email } = await account('robot-fraction');
        const file = (await post(`${accountPath(email)}/keys`, { algorithm: 'EdDSA' })).body;
        const now = Math.floor(clock.nowMs() / 1000);
        for (const claims of [{ exp: now + 30.5 }, { iat: now - 0.25 }, { exp: 1e300 }]) {
          const res = await exchange(await assertion(file, now, claims));
          assert.equal(res.status, 401, `${JSON.stringify(claims)}: ${JSON.stringify(res.body)}`);
          assert.equal(res.body.error.code, 'unauthenticated');
        }
      });

      test('a used jti is kept past the last moment its assertion is accepted, so pruning never revives it', async () => {
        const { email } = await account('robot-jti');
        const file = (await post(`${accountPath(email)}/keys`, { algorithm: 'EdDSA' })).body;
        const now = Math.floor(clock.nowMs() / 1000);
        const signed = await assertion(file, now, { exp: now + 30 });
        assert.equal((await exchange(signed)).status, 200);
        // Accepted until exp + 60 s of skew: prune at the last acceptable moment, then replay.
        clock.advance((now + 30 + 59) * 1000 + 900 - clock.nowMs());
        await node.app.serviceAccountKeys.pruneJtis();
        assert.equal((await exchange(signed)).status, 401, 'the replay is refused');
        const rows = await node.app.storage.db
          .selectFrom('iam_assertion_jtis')
          .select('expire_time')
          .where('service_account', '=', email)
          .execute();
        assert.equal(rows.length, 1);
        assert.ok(
          Number(rows[0]!.expire_time) >= (now + 30 + 120) * 1000,
          'kept for twice the skew at least',
        );
      });
    },
  );
