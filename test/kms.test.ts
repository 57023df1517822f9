import assert from 'node:assert/strict';
import { constants, createHash, createPublicKey, publicEncrypt, verify } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const postgresSkip = await postgresSkipReason();
const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64');

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(`KMS (${engine})`, { skip: engine === 'postgres' ? (postgresSkip ?? false) : false }, () => {
    let node: TestNode;
    let token: string;
    let database: TestDatabase | undefined;
    const clock = new ManualClock(Date.UTC(2026, 5, 1));
    let projectId: string;
    let ring: string;

    const api = (method: string, path: string, body?: unknown) =>
      call(node.url, method, path, { token, ...(body !== undefined ? { body } : {}) });
    const keysPath = () => `/v2/projects/${projectId}/regions/eu01/keyrings/${ring}/keys`;
    const createKey = async (body: Record<string, unknown>) => {
      const res = await api('POST', keysPath(), body);
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body as { id: string; name: string; primaryVersion: number; state: string };
    };
    const op = (keyId: string, action: string, body: unknown = {}) =>
      api('POST', `${keysPath()}/${keyId}/${action}`, body);

    before(async () => {
      const env: Record<string, string> = { COFFER_REGIONS: 'eu01,us01', COFFER_KMS_REGIONS: 'eu01' };
      if (engine === 'postgres') {
        database = await createTestDatabase();
        env.COFFER_DATABASE_URL = database.url;
      }
      node = await startTestNode({ env, clock });
      token = node.adminToken!;
      projectId = (await api('POST', '/v2/projects', { displayName: 'kms' })).body.id;
      const created = await api('POST', `/v2/projects/${projectId}/regions/eu01/keyrings`, {
        id: '11111111-1111-1111-1111-111111111111',
        displayName: 'ring',
      });
      assert.equal(created.status, 201);
      ring = created.body.id;
    });
    after(async () => {
      await node?.destroy();
      await database?.drop();
    });

    test('key rings: chosen id, get, list, duplicate 409, unknown project or region 404', async () => {
      const got = await api('GET', `/v2/projects/${projectId}/regions/eu01/keyrings/${ring}`);
      assert.equal(got.body.name, `projects/${projectId}/regions/eu01/keyrings/${ring}`);
      const listed = await api('GET', `/v2/projects/${projectId}/regions/eu01/keyrings`);
      assert.deepEqual(
        listed.body.items.map((r: { id: string }) => r.id),
        [ring],
      );
      const duplicate = await api('POST', `/v2/projects/${projectId}/regions/eu01/keyrings`, {
        id: ring,
        displayName: 'again',
      });
      assert.equal(duplicate.status, 409);
      const noProject = await api(
        'GET',
        '/v2/projects/99999999-9999-9999-9999-999999999999/regions/eu01/keyrings',
      );
      assert.equal(noProject.status, 404);
      const noRegion = await api('GET', `/v2/projects/${projectId}/regions/mars/keyrings`);
      assert.equal(noRegion.status, 404);
      const missingName = await api('POST', `/v2/projects/${projectId}/regions/eu01/keyrings`, {});
      assert.equal(missingName.status, 400);
    });

    test('a region without KMS answers 503 kms_unavailable; a project with kms off answers 403 feature_disabled', async () => {
      const unavailable = await api('GET', `/v2/projects/${projectId}/regions/us01/keyrings`);
      assert.equal(unavailable.status, 503);
      assert.equal(unavailable.body.error.code, 'kms_unavailable');
      const gated = (await api('POST', '/v2/projects', { displayName: 'no-kms', features: { kms: false } }))
        .body.id;
      const disabled = await api('GET', `/v2/projects/${gated}/regions/eu01/keyrings`);
      assert.equal(disabled.status, 403);
      assert.equal(disabled.body.error.code, 'feature_disabled');
    });

    for (const algorithm of ['aes256-gcm96', 'aes128-gcm96', 'chacha20-poly1305'] as const) {
      test(`${algorithm}: encrypt/decrypt with AAD, data keys, rewrap`, async () => {
        const key = await createKey({ algorithm });
        const enc = await op(key.id, 'encrypt', { plaintext: b64('attack at dawn'), aad: b64('ctx') });
        assert.equal(enc.status, 200);
        assert.equal(enc.body.keyVersion, 1);
        const dec = await op(key.id, 'decrypt', { ciphertext: enc.body.ciphertext, aad: b64('ctx') });
        assert.equal(dec.status, 200);
        assert.equal(dec.headers.get('cache-control'), 'no-store');
        assert.equal(Buffer.from(dec.body.plaintext, 'base64').toString(), 'attack at dawn');
        const wrongAad = await op(key.id, 'decrypt', { ciphertext: enc.body.ciphertext, aad: b64('other') });
        assert.equal(wrongAad.status, 400);
        const dataKey = await op(key.id, 'generate-data-key', { numberOfBytes: 32 });
        assert.equal(Buffer.from(dataKey.body.plaintext, 'base64').length, 32);
        const unwrapped = await op(key.id, 'decrypt', { ciphertext: dataKey.body.ciphertext });
        assert.equal(unwrapped.body.plaintext, dataKey.body.plaintext);
        const silent = await op(key.id, 'generate-data-key', { numberOfBytes: 64, includePlaintext: false });
        assert.equal(silent.body.plaintext, undefined);
        await op(key.id, 'rotate');
        const rewrapped = await op(key.id, 'rewrap', { ciphertext: enc.body.ciphertext, aad: b64('ctx') });
        assert.equal(rewrapped.body.keyVersion, 2);
        assert.equal(rewrapped.body.plaintext, undefined);
        const again = await op(key.id, 'decrypt', { ciphertext: rewrapped.body.ciphertext, aad: b64('ctx') });
        assert.equal(Buffer.from(again.body.plaintext, 'base64').toString(), 'attack at dawn');
      });
    }

    const signers =
      engine === 'sqlite'
        ? (['rsa-2048', 'rsa-3072', 'rsa-4096', 'ecdsa-p256', 'ecdsa-p384', 'ed25519'] as const)
        : (['rsa-2048', 'ecdsa-p256', 'ed25519'] as const);
    for (const algorithm of signers) {
      test(`${algorithm}: signatures verify with node:crypto and the exported public key`, async () => {
        const key = await createKey({ algorithm });
        const message = Buffer.from('sign me');
        const signed = await op(key.id, 'sign', { data: b64(message) });
        assert.equal(signed.status, 200, JSON.stringify(signed.body));
        const pem = await api('GET', `${keysPath()}/${key.id}/versions/1/public-key`);
        assert.equal(pem.body.algorithm, algorithm);
        const publicKey = createPublicKey(pem.body.pem);
        const signature = Buffer.from(signed.body.signature, 'base64');
        const hash = algorithm === 'ecdsa-p384' ? 'sha384' : algorithm === 'ed25519' ? null : 'sha256';
        const options = algorithm.startsWith('rsa')
          ? { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
          : publicKey;
        assert.ok(verify(hash, message, options, signature));
        const checked = await op(key.id, 'verify', { data: b64(message), signature: signed.body.signature });
        assert.equal(checked.body.valid, true);
        const forged = await op(key.id, 'verify', { data: b64('other'), signature: signed.body.signature });
        assert.equal(forged.body.valid, false);
        if (hash) {
          const digest = createHash(hash).update(message).digest();
          const byDigest = await op(key.id, 'sign', { digest: b64(digest) });
          assert.ok(verify(hash, message, options, Buffer.from(byDigest.body.signature, 'base64')));
          const shortDigest = await op(key.id, 'sign', { digest: b64(digest.subarray(1)) });
          assert.equal(shortDigest.status, 400);
        } else {
          const refused = await op(key.id, 'sign', { digest: b64(Buffer.alloc(32)) });
          assert.equal(refused.status, 400);
        }
        const both = await op(key.id, 'sign', { data: b64(message), digest: b64(Buffer.alloc(32)) });
        assert.equal(both.status, 400);
        const encrypt = await op(key.id, 'encrypt', { plaintext: b64('x') });
        assert.equal(encrypt.status, 400, 'a signing key does not encrypt');
      });
    }

    test('rsa decrypt purpose: OAEP with the exported public key, decrypted by the server', async () => {
      const key = await createKey({ algorithm: 'rsa-2048', purpose: 'decrypt' });
      const pem = await api('GET', `${keysPath()}/${key.id}/versions/1/public-key`);
      const ciphertext = publicEncrypt(
        { key: pem.body.pem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
        Buffer.from('wrapped key'),
      );
      const dec = await op(key.id, 'decrypt', { ciphertext: ciphertext.toString('base64') });
      assert.equal(Buffer.from(dec.body.plaintext, 'base64').toString(), 'wrapped key');
      const sign = await op(key.id, 'sign', { data: b64('x') });
      assert.equal(sign.status, 400);
    });

    for (const algorithm of ['hmac-sha256', 'hmac-sha512'] as const) {
      test(`${algorithm}: mac and verify-mac`, async () => {
        const key = await createKey({ algorithm });
        const mac = await op(key.id, 'mac', { data: b64('payload') });
        assert.equal(Buffer.from(mac.body.mac, 'base64').length, algorithm === 'hmac-sha256' ? 32 : 64);
        assert.equal(
          (await op(key.id, 'verify-mac', { data: b64('payload'), mac: mac.body.mac })).body.valid,
          true,
        );
        assert.equal(
          (await op(key.id, 'verify-mac', { data: b64('payloaD'), mac: mac.body.mac })).body.valid,
          false,
        );
        assert.equal((await op(key.id, 'encrypt', { plaintext: b64('x') })).status, 400);
      });
    }

    test('rotation: new primary version, old ciphertexts still decrypt, versions listed', async () => {
      const key = await createKey({ algorithm: 'aes256-gcm96', slug: `rotating-${engine}` });
      const old = await op(key.id, 'encrypt', { plaintext: b64('v1') });
      for (let i = 0; i < 3; i++) assert.equal((await op(key.id, 'rotate')).status, 200);
      const fresh = await op(key.id, 'encrypt', { plaintext: b64('v4') });
      assert.equal(fresh.body.keyVersion, 4);
      assert.equal(
        Buffer.from(
          (await op(key.id, 'decrypt', { ciphertext: old.body.ciphertext })).body.plaintext,
          'base64',
        ).toString(),
        'v1',
      );
      const pinned = await op(key.id, 'encrypt', { plaintext: b64('v2'), keyVersion: 2 });
      assert.equal(pinned.body.keyVersion, 2);
      const versions = await api('GET', `${keysPath()}/${key.id}/versions`);
      assert.deepEqual(
        versions.body.items.map((v: { version: number }) => v.version),
        [1, 2, 3, 4],
      );
      const missing = await op(key.id, 'encrypt', { plaintext: b64('x'), keyVersion: 9 });
      assert.equal(missing.status, 400);
    });

    test('slugs are unique per project and region (409)', async () => {
      await createKey({ algorithm: 'aes256-gcm96', slug: `dup-${engine}` });
      const again = await api('POST', keysPath(), { algorithm: 'aes128-gcm96', slug: `dup-${engine}` });
      assert.equal(again.status, 409);
    });

    test('bad input: unknown algorithm, purpose mismatch, oversize plaintext, bad base64, foreign ciphertext, window', async () => {
      assert.equal((await api('POST', keysPath(), { algorithm: 'des' })).status, 400);
      assert.equal(
        (await api('POST', keysPath(), { algorithm: 'aes256-gcm96', purpose: 'sign_verify' })).status,
        400,
      );
      assert.equal(
        (await api('POST', keysPath(), { algorithm: 'aes256-gcm96', rotationPeriod: '60s' })).status,
        400,
      );
      const key = await createKey({ algorithm: 'aes256-gcm96' });
      const other = await createKey({ algorithm: 'aes256-gcm96' });
      const big = await op(key.id, 'encrypt', { plaintext: Buffer.alloc(64 * 1024 + 1).toString('base64') });
      assert.equal(big.status, 413);
      assert.equal(big.body.error.code, 'payload_too_large');
      assert.equal(
        (await op(key.id, 'encrypt', { plaintext: Buffer.alloc(64 * 1024).toString('base64') })).status,
        200,
      );
      assert.equal((await op(key.id, 'encrypt', { plaintext: 'not base64!' })).status, 400);
      assert.equal((await op(key.id, 'encrypt', { plaintext: 'abc' })).status, 400);
      const foreign = await op(other.id, 'encrypt', { plaintext: b64('x') });
      const wrongKey = await op(key.id, 'decrypt', { ciphertext: foreign.body.ciphertext });
      assert.equal(wrongKey.status, 400);
      const garbage = await op(key.id, 'decrypt', { ciphertext: b64('garbage') });
      assert.equal(garbage.status, 400);
      assert.equal(wrongKey.body.error.message, garbage.body.error.message, 'one generic message, no oracle');
      assert.equal((await op(key.id, 'schedule-deletion', { pendingWindowDays: 6 })).status, 400);
      assert.equal((await op(key.id, 'schedule-deletion', { pendingWindowDays: 31 })).status, 400);
      assert.equal((await op(key.id, 'encrypt', { plaintext: b64('x'), extra: 1 })).status, 400);
      const elsewhere = (await api('POST', '/v2/projects', { displayName: 'other' })).body.id;
      const cross = await api(
        'GET',
        `/v2/projects/${elsewhere}/regions/eu01/keyrings/${ring}/keys/${key.id}`,
      );
      assert.equal(cross.status, 404, 'another project’s key is not reachable through this project');
    });

    test('key states: every operation in every state (seed 000’s table)', async () => {
      const expectations: Record<string, Record<string, number>> = {
        active: { get: 200, versions: 200, encrypt: 200, decrypt: 200, dataKey: 200, rewrap: 200 },
        disabled: { get: 200, versions: 200, encrypt: 400, decrypt: 400, dataKey: 400, rewrap: 400 },
        pending_deletion: { get: 200, versions: 200, encrypt: 400, decrypt: 400, dataKey: 400, rewrap: 400 },
        destroyed: { get: 200, versions: 200, encrypt: 400, decrypt: 400, dataKey: 400, rewrap: 400 },
      };
      for (const [state, expected] of Object.entries(expectations)) {
        const key = await createKey({ algorithm: 'aes256-gcm96' });
        const ct = (await op(key.id, 'encrypt', { plaintext: b64('x') })).body.ciphertext;
        if (state === 'disabled') assert.equal((await op(key.id, 'disable')).body.state, 'disabled');
        if (state === 'pending_deletion' || state === 'destroyed') {
          const scheduled = await op(key.id, 'schedule-deletion', { pendingWindowDays: 7 });
          assert.equal(scheduled.body.state, 'pending_deletion');
          assert.ok(scheduled.body.deletionTime);
        }
        if (state === 'destroyed') {
          clock.advance(7 * 86_400_000 + 1);
          await node.app.runBackgroundJobs();
        }
        const answers: Record<string, number> = {
          get: (await api('GET', `${keysPath()}/${key.id}`)).status,
          versions: (await api('GET', `${keysPath()}/${key.id}/versions`)).status,
          encrypt: (await op(key.id, 'encrypt', { plaintext: b64('x') })).status,
          decrypt: (await op(key.id, 'decrypt', { ciphertext: ct })).status,
          dataKey: (await op(key.id, 'generate-data-key', { numberOfBytes: 16 })).status,
          rewrap: (await op(key.id, 'rewrap', { ciphertext: ct })).status,
        };
        assert.deepEqual(answers, expected, state);
        assert.equal((await api('GET', `${keysPath()}/${key.id}`)).body.state, state);
        const refused = await op(key.id, 'encrypt', { plaintext: b64('x') });
        if (state !== 'active') assert.equal(refused.body.error.code, 'key_not_active');
      }
    });

    test('key state transitions: enable, cancel-deletion gives disabled, illegal moves are failed_precondition', async () => {
      const key = await createKey({ algorithm: 'aes256-gcm96' });
      assert.equal((await op(key.id, 'disable')).body.state, 'disabled');
      assert.equal((await op(key.id, 'enable')).body.state, 'active');
      assert.equal((await op(key.id, 'schedule-deletion')).body.state, 'pending_deletion');
      const enable = await op(key.id, 'enable');
      assert.equal(enable.status, 400);
      assert.equal(enable.body.error.code, 'failed_precondition');
      const cancelled = await op(key.id, 'cancel-deletion');
      assert.equal(cancelled.body.state, 'disabled');
      assert.equal(cancelled.body.deletionTime, null);
      assert.equal((await op(key.id, 'cancel-deletion')).status, 400);
    });

    test('version states: disabled or destroyed versions refuse with key_not_active; the primary cannot be destroyed', async () => {
      const key = await createKey({ algorithm: 'aes256-gcm96' });
      const v1 = (await op(key.id, 'encrypt', { plaintext: b64('one') })).body.ciphertext;
      await op(key.id, 'rotate');
      const versions = `${keysPath()}/${key.id}/versions`;
      assert.equal((await api('POST', `${versions}/1/disable`)).body.state, 'disabled');
      const disabled = await op(key.id, 'decrypt', { ciphertext: v1 });
      assert.equal(disabled.status, 400);
      assert.equal(disabled.body.error.code, 'key_not_active');
      assert.equal((await api('POST', `${versions}/1/enable`)).body.state, 'enabled');
      assert.equal((await op(key.id, 'decrypt', { ciphertext: v1 })).status, 200);
      const primary = await api('POST', `${versions}/2/destroy`);
      assert.equal(primary.status, 400);
      const destroyed = await api('POST', `${versions}/1/destroy`);
      assert.equal(destroyed.body.state, 'destroyed');
      assert.ok(destroyed.body.destroyTime);
      assert.equal((await op(key.id, 'decrypt', { ciphertext: v1 })).body.error.code, 'key_not_active');
      assert.equal((await api('POST', `${versions}/1/enable`)).status, 400);
      assert.equal((await api('GET', `${versions}/1`)).body.state, 'destroyed');
      assert.equal((await api('GET', `${versions}/7`)).status, 404);
    });

    test('automatic rotation runs when rotationPeriod elapses (controllable clock), once', async () => {
      const key = await createKey({ algorithm: 'aes256-gcm96', rotationPeriod: '86400s' });
      const created = await api('GET', `${keysPath()}/${key.id}`);
      assert.equal(created.body.rotationPeriod, '86400s');
      await node.app.runBackgroundJobs();
      assert.equal((await api('GET', `${keysPath()}/${key.id}`)).body.primaryVersion, 1);
      clock.advance(86_400_000);
      const runChange = (_event: unknown, change: () => Promise<void>) => change();
      const [first, second] = await Promise.all([
        node.app.kms.runDueJobs(runChange),
        node.app.kms.runDueJobs(runChange),
      ]);
      assert.equal(first.length + second.length, 1, 'two racing runs rotate once');
      const rotated = await api('GET', `${keysPath()}/${key.id}`);
      assert.equal(rotated.body.primaryVersion, 2);
      assert.equal(Date.parse(rotated.body.nextRotationTime), clock.nowMs() + 86_400_000);
    });

    test('every KMS request is audited with its key version, never with data', async () => {
      const key = await createKey({ algorithm: 'aes256-gcm96' });
      const secret = 'plaintext-that-must-not-leak';
      const enc = await call(node.url, 'POST', `${keysPath()}/${key.id}/encrypt`, {
        token,
        body: { plaintext: b64(secret) },
        headers: { 'x-request-id': `audit-${engine}` },
      });
      const rows = await node.app.storage.db
        .selectFrom('audit_events')
        .selectAll()
        .where('request_id', '=', `audit-${engine}`)
        .execute();
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.action, 'kms.encrypt');
      assert.equal(rows[0]!.principal, 'user:admin@coffer.internal');
      assert.equal(rows[0]!.resource, key.name);
      assert.equal(rows[0]!.result, 'ok');
      assert.deepEqual(JSON.parse(rows[0]!.details!), { keyVersion: 1 });
      const all = JSON.stringify(await node.app.storage.db.selectFrom('audit_events').selectAll().execute());
      assert.ok(!all.includes(secret) && !all.includes(b64(secret)) && !all.includes(enc.body.ciphertext));
      const denied = await call(node.url, 'POST', `${keysPath()}/${key.id}/encrypt`, {
        body: { plaintext: b64('x') },
      });
      assert.equal(denied.status, 401);
      // Refused before authentication: counted per address as a system event, not one per request.
      const deniedRow = await node.app.storage.db
        .selectFrom('audit_events')
        .selectAll()
        .where('request_id', '=', denied.headers.get('x-request-id')!)
        .executeTakeFirst();
      assert.equal(deniedRow, undefined);
    });
  });
}
