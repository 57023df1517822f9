import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { importPKCS8, type JWTPayload, SignJWT } from 'jose';
import { CofferClient, type ServiceAccountKeyFile, serviceAccountKeyToken } from '../src/sdk/index.ts';
import { createTestDatabase, postgresSkipReason } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();
const refusal = 'The assertion is invalid, expired, already used, or not signed by a usable key.';

/** Signs an assertion for `file`, with claims overridden by `claims` and the key by `privateKey`. */
async function assertion(
  file: ServiceAccountKeyFile,
  claims: JWTPayload = {},
  privateKey = file.privateKey,
  kid = file.privateKeyId,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: file.clientEmail,
    sub: file.clientEmail,
    aud: file.tokenUri,
    iat: now,
    exp: now + 300,
    jti: randomUUID(),
    ...claims,
  })
    .setProtectedHeader({ alg: file.algorithm, kid })
    .sign(await importPKCS8(privateKey, file.algorithm));
}

function claimsOf(file: ServiceAccountKeyFile): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  return { iss: file.clientEmail, sub: file.clientEmail, aud: file.tokenUri, iat: now, exp: now + 300 };
}

function publicKeyOf(file: ServiceAccountKeyFile): string {
  return createPublicKey(file.privateKey).export({ type: 'spki', format: 'pem' }).toString();
}

function unsigned(file: ServiceAccountKeyFile): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', kid: file.privateKeyId })}.${part({ ...claimsOf(file), jti: randomUUID() })}.`;
}

const roomyLimits = { COFFER_RATE_LIMIT_LOGINS_PER_MINUTE: '6000' };

const exchange = (url: string, signed: string, extra: Record<string, unknown> = {}) =>
  call(url, 'POST', '/v2/auth/token', {
    body: { grantType: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: signed, ...extra },
  });

describe('service-account keys', () => {
  let node: TestNode;
  let admin: string;
  let projectId: string;
  const accounts = new Map<string, string>();

  const post = (path: string, body: unknown = {}, token = admin) =>
    call(node.url, 'POST', path, { token, body });
  const accountPath = (name: string) =>
    `/v2/projects/${projectId}/service-accounts/${encodeURIComponent(accounts.get(name)!)}`;
  async function account(name: string): Promise<string> {
    const res = await post(`/v2/projects/${projectId}/service-accounts`, { name });
    assert.equal(res.status, 201);
    accounts.set(name, res.body.email);
    return res.body.email;
  }
  async function createKey(name: string, body: unknown = {}): Promise<ServiceAccountKeyFile> {
    const res = await post(`${accountPath(name)}/keys`, body);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  }
  async function tokenWithRole(name: string, role: string, condition?: unknown): Promise<string> {
    const email = await account(name);
    await post(`/v2/projects/${projectId}/iam-policy:add-binding`, {
      role,
      member: `serviceAccount:${email}`,
      ...(condition ? { condition } : {}),
    });
    return (await post(`${accountPath(name)}/tokens`)).body.token;
  }

  before(async () => {
    // Many refusals in a row here: the failed-exchange budget (the login limiter's) is tested apart.
    node = await startTestNode({ env: roomyLimits });
    admin = node.adminToken!;
    projectId = (await post('/v2/projects', { displayName: 'keys' })).body.id;
    await account('robot-main');
  });
  after(() => node?.destroy());

  test('creating a key answers the private key once (no-store); Coffer stores only the public key', async () => {
    const res = await post(`${accountPath('robot-main')}/keys`, {});
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const file = res.body as ServiceAccountKeyFile;
    assert.equal(file.type, 'service_account');
    assert.equal(file.algorithm, 'RS256');
    assert.equal(file.clientEmail, accounts.get('robot-main'));
    assert.equal(file.tokenUri, '/v2/auth/token');
    assert.match(file.privateKey, /^-----BEGIN PRIVATE KEY-----/);
    const row = await node.app.storage.db
      .selectFrom('iam_service_account_keys')
      .selectAll()
      .where('id', '=', file.privateKeyId)
      .executeTakeFirstOrThrow();
    assert.match(row.public_key, /^-----BEGIN PUBLIC KEY-----/);
    const body = file.privateKey.split('\n')[1]!;
    assert.ok(!JSON.stringify(row).includes(body), 'no part of the private key is stored');
    const listed = await call(node.url, 'GET', `${accountPath('robot-main')}/keys`, { token: admin });
    assert.deepEqual(
      listed.body.items.map((k: { keyId: string }) => k.keyId),
      [file.privateKeyId],
    );
    const got = await call(node.url, 'GET', `${accountPath('robot-main')}/keys/${file.privateKeyId}`, {
      token: admin,
    });
    assert.equal(got.body.publicKey, row.public_key);
    assert.ok(!JSON.stringify([listed.body, got.body]).includes(body));
  });

  test('an exchanged token works, is audited as the account, and a replayed jti is refused', async () => {
    const file = await createKey('robot-main', { algorithm: 'EdDSA' });
    const signed = await assertion(file);
    const first = await exchange(node.url, signed);
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('cache-control'), 'no-store');
    const expireIn = Date.parse(first.body.expireTime) - Date.now();
    assert.ok(expireIn > 3590_000 && expireIn <= 3600_000, 'default ttl is one hour');
    const probe = await call(node.url, 'GET', '/v2/permissions', { token: first.body.token });
    assert.equal(probe.status, 200);
    const replay = await exchange(node.url, signed);
    assert.equal(replay.status, 401);
    assert.equal(replay.body.error.message, refusal);
    const shorter = await exchange(node.url, await assertion(file), { ttl: '600s' });
    assert.ok(Date.parse(shorter.body.expireTime) - Date.now() <= 600_000);
    assert.equal((await exchange(node.url, await assertion(file), { ttl: 3601 })).status, 400);

    const events = await node.app.storage.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', 'auth.token')
      .execute();
    const text = JSON.stringify(events);
    assert.ok(text.includes(`serviceAccount:${file.clientEmail}`));
    assert.ok(!text.includes(signed.split('.')[2]!), 'the assertion is never audited');
    assert.ok(!text.includes(first.body.token), 'the token is never audited');
    assert.ok(!node.logLines.join('\n').includes(signed.split('.')[2]!), 'nor logged');
  });

  test('every bad assertion is 401 with one message that names no account', async () => {
    const file = await createKey('robot-main', { algorithm: 'ES256' });
    const now = Math.floor(Date.now() / 1000);
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const cases: Record<string, string> = {
      expired: await assertion(file, { iat: now - 600, exp: now - 120 }),
      'wrong audience': await assertion(file, { aud: 'https://elsewhere.example/token' }),
      'exp more than an hour after iat': await assertion(file, { exp: now + 3700 }),
      'issued in the future': await assertion(file, { iat: now + 300, exp: now + 600 }),
      'no jti': await assertion(file, { jti: undefined }),
      'another account as iss': await assertion(file, { iss: 'x@y.iam.coffer.internal' }),
      'unknown kid': await assertion(file, {}, file.privateKey, 'f'.repeat(40)),
      'signed by another key': await assertion(file, {}, stranger),
      'not a JWT': 'not.a.jwt',
      // Algorithm confusion: the public key as an HMAC secret, and no signature at all.
      HS256: await new SignJWT({ ...claimsOf(file), jti: randomUUID() })
        .setProtectedHeader({ alg: 'HS256', kid: file.privateKeyId })
        .sign(new TextEncoder().encode(publicKeyOf(file))),
      'alg none': unsigned(file),
    };
    for (const [what, signed] of Object.entries(cases)) {
      const res = await exchange(node.url, signed);
      assert.equal(res.status, 401, what);
      assert.equal(res.body.error.message, refusal, what);
    }
    // Refused exchanges are anonymous: counted per address into one event a minute, not one each.
    await node.app.unauthenticatedAudit.flush();
    const counted = await node.app.storage.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', 'auth.unauthenticated')
      .execute();
    assert.ok(
      counted.some((e) => e.principal === 'anonymous' && e.details?.includes('"action":"auth.token"')),
      'refused exchanges are audited as a count per address',
    );
  });

  test('a disabled or deleted key, or a disabled account, stops exchanges and the key’s tokens at once', async () => {
    await account('robot-state');
    const file = await createKey('robot-state', { algorithm: 'EdDSA' });
    const other = await createKey('robot-state', { algorithm: 'EdDSA' });
    const token = (await exchange(node.url, await assertion(file))).body.token;
    const otherToken = (await exchange(node.url, await assertion(other))).body.token;
    const works = async (t: string) => (await call(node.url, 'GET', '/v2/permissions', { token: t })).status;
    assert.equal(await works(token), 200);

    const keyPath = `${accountPath('robot-state')}/keys/${file.privateKeyId}`;
    assert.equal((await post(`${keyPath}/disable`)).body.disabled, true);
    assert.equal((await exchange(node.url, await assertion(file))).body.error.message, refusal);
    assert.equal(await works(token), 401, 'tokens of a disabled key are revoked');
    assert.equal(await works(otherToken), 200, 'other keys’ tokens are not');
    assert.equal((await post(`${keyPath}/enable`)).body.disabled, false);
    assert.equal((await exchange(node.url, await assertion(file))).status, 200);
    assert.equal(await works(token), 401, 'enabling brings no old token back');

    assert.equal((await call(node.url, 'DELETE', keyPath, { token: admin })).status, 204);
    assert.equal((await exchange(node.url, await assertion(file))).body.error.message, refusal);
    assert.equal((await call(node.url, 'GET', keyPath, { token: admin })).status, 404);

    await post(`${accountPath('robot-state')}/disable`);
    const refused = await exchange(node.url, await assertion(other));
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error.message, refusal);
    assert.equal(await works(otherToken), 401);
  });

  test('creating a key needs act_as: iam.admin and a keys.create-only role get 403, time-bound act_as caps the key', async () => {
    await account('robot-target');
    const iamAdmin = await tokenWithRole('robot-iamadmin', 'roles/iam.admin');
    const denied = await post(`${accountPath('robot-target')}/keys`, {}, iamAdmin);
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error.code, 'permission_denied');
    // iam.admin manages keys all the same.
    assert.equal(
      (await call(node.url, 'GET', `${accountPath('robot-target')}/keys`, { token: iamAdmin })).status,
      200,
    );

    const roles = `/v2/projects/${projectId}/roles`;
    await post(roles, { roleId: 'keyMaker', title: 'k', permissions: ['iam.service_account_keys.create'] });
    await post(roles, {
      roleId: 'keyMakerActor',
      title: 'k',
      permissions: ['iam.service_account_keys.create', 'iam.service_accounts.act_as'],
    });
    const maker = await tokenWithRole('robot-maker', `projects/${projectId}/roles/keyMaker`);
    const noActAs = await post(`${accountPath('robot-target')}/keys`, {}, maker);
    assert.equal(noActAs.status, 403);
    assert.match(noActAs.body.error.message, /iam\.service_accounts\.act_as/);

    const expiresAt = new Date(Date.now() + 600_000).toISOString();
    const bounded = await tokenWithRole('robot-bounded', `projects/${projectId}/roles/keyMakerActor`, {
      title: 'ten minutes',
      expiresAt,
    });
    const file = (await post(`${accountPath('robot-target')}/keys`, { algorithm: 'EdDSA' }, bounded)).body;
    const key = await call(node.url, 'GET', `${accountPath('robot-target')}/keys/${file.privateKeyId}`, {
      token: admin,
    });
    assert.equal(Date.parse(key.body.expireTime), Date.parse(expiresAt), 'the key expires with the grant');
  });

  test('used jtis are kept until their assertion expires, then pruned', async () => {
    const file = await createKey('robot-main', { algorithm: 'EdDSA' });
    const jti = randomUUID();
    assert.equal((await exchange(node.url, await assertion(file, { jti }))).status, 200);
    const jtis = () =>
      node.app.storage.db.selectFrom('iam_assertion_jtis').select(['jti', 'expire_time']).execute();
    const row = (await jtis()).find((r) => r.jti === jti)!;
    // Kept past the assertion's exp by the clock skew, so no still-acceptable assertion is forgotten.
    assert.ok(Number(row.expire_time) >= Date.now() + 300_000);
    await node.app.serviceAccountKeys.pruneJtis();
    assert.ok(
      (await jtis()).some((r) => r.jti === jti),
      'a live jti is kept',
    );
    await node.app.storage.write([
      {
        sql: 'UPDATE iam_assertion_jtis SET expire_time = ? WHERE jti = ?',
        parameters: [Date.now() - 1, jti],
      },
    ]);
    await node.app.serviceAccountKeys.pruneJtis();
    assert.ok(!(await jtis()).some((r) => r.jti === jti), 'an expired one is pruned');
  });

  test('the SDK token source exchanges against the server and renews before expiry', async () => {
    const file = await createKey('robot-main', { algorithm: 'EdDSA' });
    const clock = { offsetMs: 0 };
    const source = serviceAccountKeyToken(file, {
      address: node.url,
      ttlSeconds: 60,
      now: () => Date.now() + clock.offsetMs,
    });
    const client = new CofferClient({ address: node.url, tokenProvider: () => source.getToken() });
    assert.ok((await client.iam.listPermissions()).items.length > 0);
    const first = await source.getToken();
    clock.offsetMs = 47_000;
    assert.equal(await source.getToken(), first, 'not yet at 80% of 60 s');
    clock.offsetMs = 49_000;
    assert.equal(await source.getToken(), first, 'still good: renewed in the background');
    let renewed = first;
    for (let i = 0; i < 100 && renewed === first; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      renewed = await source.getToken();
    }
    assert.notEqual(renewed, first);
    assert.equal((await call(node.url, 'GET', '/v2/permissions', { token: renewed })).status, 200);
  });

  test('a sealed node answers 503 sealed to an exchange (the last test here: the node stays sealed)', async () => {
    const file = await createKey('robot-main', { algorithm: 'EdDSA' });
    await node.app.seal();
    const res = await exchange(node.url, await assertion(file));
    assert.equal(res.status, 503);
    assert.equal(res.body.error.code, 'sealed');
  });
});

describe('service-account keys on two PostgreSQL nodes', { skip: postgresSkip ?? false }, () => {
  test('one assertion sent to both nodes at once is accepted exactly once; a disable on one stops the other', async () => {
    const database = await createTestDatabase();
    const env = { ...roomyLimits, COFFER_DATABASE_URL: database.url };
    const seed = await startTestNode({ env });
    const otherDir = mkdtempSync(join(tmpdir(), 'coffer-node-b-'));
    copyFileSync(join(seed.dataDir, 'seal.key'), join(otherDir, 'seal.key'));
    const other = await startTestNode({ env, dataDir: otherDir }).catch(async (err) => {
      await seed.destroy();
      await database.drop();
      throw err;
    });
    try {
      const admin = seed.adminToken!;
      const projectId = (await call(seed.url, 'POST', '/v2/projects', { token: admin, body: {} })).body.id;
      const email = (
        await call(seed.url, 'POST', `/v2/projects/${projectId}/service-accounts`, {
          token: admin,
          body: { name: 'robot-cluster' },
        })
      ).body.email;
      const keys = `/v2/projects/${projectId}/service-accounts/${encodeURIComponent(email)}/keys`;
      const file = (await call(seed.url, 'POST', keys, { token: admin, body: { algorithm: 'EdDSA' } })).body;
      for (let round = 0; round < 3; round++) {
        const signed = await assertion(file);
        const answers = await Promise.all(
          Array.from({ length: 8 }, (_, i) => exchange(i % 2 === 0 ? seed.url : other.url, signed)),
        );
        const statuses = answers.map((a) => a.status).sort();
        assert.deepEqual(statuses, [200, 401, 401, 401, 401, 401, 401, 401], `round ${round}`);
      }
      await call(seed.url, 'POST', `${keys}/${file.privateKeyId}/disable`, { token: admin });
      const refused = await exchange(other.url, await assertion(file));
      assert.equal(refused.status, 401, 'the other node refuses at once (no cache)');
    } finally {
      await other.destroy();
      await seed.destroy();
      await database.drop();
    }
  });
});

describe('service-account key exchanges and the sensitive limiter', () => {
  test('failed exchanges spend the address’s budget (10 a minute by default): then 429 with Retry-After', async () => {
    const node = await startTestNode();
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 11; i++) statuses.push((await exchange(node.url, 'not.a.jwt')).status);
      assert.deepEqual(statuses, [...Array(10).fill(401), 429]);
      const limited = await exchange(node.url, 'not.a.jwt');
      assert.ok(Number(limited.headers.get('retry-after')) > 0);
    } finally {
      await node.destroy();
    }
  });
});

describe('service-account keys with a configured publicUrl', () => {
  test('the key file names {publicUrl}/v2/auth/token; that and the bare path are the accepted audiences', async () => {
    const node = await startTestNode({ env: { COFFER_PUBLIC_URL: 'https://coffer.example.com/' } });
    try {
      const admin = node.adminToken!;
      const projectId = (await call(node.url, 'POST', '/v2/projects', { token: admin, body: {} })).body.id;
      const email = (
        await call(node.url, 'POST', `/v2/projects/${projectId}/service-accounts`, {
          token: admin,
          body: { name: 'robot-public' },
        })
      ).body.email;
      const file = (
        await call(node.url, 'POST', `/v2/projects/${projectId}/service-accounts/${email}/keys`, {
          token: admin,
          body: { algorithm: 'EdDSA' },
        })
      ).body as ServiceAccountKeyFile;
      assert.equal(file.tokenUri, 'https://coffer.example.com/v2/auth/token');
      assert.equal((await exchange(node.url, await assertion(file))).status, 200);
      assert.equal((await exchange(node.url, await assertion(file, { aud: '/v2/auth/token' }))).status, 200);
      const other = await exchange(
        node.url,
        await assertion(file, { aud: 'https://other.example.com/v2/auth/token' }),
      );
      assert.equal(other.status, 401);
    } finally {
      await node.destroy();
    }
  });
});
