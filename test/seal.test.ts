import assert from 'node:assert/strict';
import { chmodSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { SealStartError } from '../src/app/initialize.ts';
import { unsealWith } from './support/unseal.ts';
import { call, startTestNode } from './support/test-node.ts';

describe('file seal', () => {
  test('a fresh data dir initializes itself: key file and root-token file with mode 0600', async () => {
    const node = await startTestNode();
    try {
      assert.equal(statSync(join(node.dataDir, 'seal.key')).mode & 0o777, 0o600);
      assert.equal(statSync(join(node.dataDir, 'root-token')).mode & 0o777, 0o600);
      assert.match(node.adminToken ?? '', /^cfr_/);
      const logged = node.logLines.join('\n');
      assert.match(logged, /seal\.key/);
      assert.match(logged, /root-token/);
      assert.ok(!logged.includes(node.adminToken!), 'the token itself is never logged');
      const status = await call(node.url, 'GET', '/v2/sys/seal-status');
      assert.deepEqual(status.body, {
        type: 'file',
        initialized: true,
        sealed: false,
        threshold: 1,
        progress: 0,
        shares: 1,
        nonce: '',
        attemptFailed: false,
      });
      const init = await call(node.url, 'POST', '/v2/sys/init', {
        body: { secretShares: 5, secretThreshold: 3 },
      });
      assert.equal(init.status, 409);
      assert.equal(init.body.error.code, 'already_exists');
    } finally {
      await node.destroy();
    }
  });

  test('a restart unseals from the key file and keeps data and token', async () => {
    const first = await startTestNode();
    const token = first.adminToken!;
    const created = await call(first.url, 'POST', '/v2/projects', { token, body: { displayName: 'kept' } });
    await first.stop();
    const second = await startTestNode({ dataDir: first.dataDir });
    try {
      const got = await call(second.url, 'GET', `/v2/projects/${created.body.id}`, { token });
      assert.equal(got.status, 200);
      assert.equal(got.body.displayName, 'kept');
    } finally {
      await second.destroy();
    }
  });

  test('a wrong, corrupted, loose or missing key file is refused and nothing is overwritten', async () => {
    const node = await startTestNode();
    await node.stop();
    const keyPath = join(node.dataDir, 'seal.key');
    const original = readFileSync(keyPath, 'utf8');
    writeFileSync(keyPath, `coffer-seal-key-v1:${Buffer.alloc(32, 7).toString('base64')}\n`, { mode: 0o600 });
    await assert.rejects(
      startTestNode({ dataDir: node.dataDir }),
      (err: Error) => err instanceof SealStartError && /does not open/.test(err.message),
    );
    writeFileSync(keyPath, 'garbage', { mode: 0o600 });
    await assert.rejects(startTestNode({ dataDir: node.dataDir }), /corrupted/);
    writeFileSync(keyPath, original);
    chmodSync(keyPath, 0o644);
    await assert.rejects(startTestNode({ dataDir: node.dataDir }), /chmod 600/);
    rmSync(keyPath);
    await assert.rejects(startTestNode({ dataDir: node.dataDir }), /missing/);
    writeFileSync(keyPath, original, { mode: 0o600 });
    assert.equal(readFileSync(keyPath, 'utf8'), original);
    const restarted = await startTestNode({ dataDir: node.dataDir });
    await restarted.destroy();
  });
});

describe('shamir seal', () => {
  test('init returns shares and token once; sealed until the threshold; a forged share is refused; seal again', async () => {
    const node = await startTestNode({ env: { COFFER_SEAL: 'shamir' } });
    try {
      const before = await call(node.url, 'GET', '/v2/sys/seal-status');
      assert.equal(before.body.initialized, false);
      assert.equal(before.body.sealed, true);
      const health = await call(node.url, 'GET', '/v2/health');
      assert.equal(health.status, 503);
      assert.equal(health.body.status, 'sealed');

      const init = await call(node.url, 'POST', '/v2/sys/init', {
        body: { secretShares: 5, secretThreshold: 3 },
      });
      assert.equal(init.status, 200);
      assert.equal(init.headers.get('cache-control'), 'no-store');
      assert.equal(init.body.keys.length, 5);
      const token: string = init.body.rootToken;
      const again = await call(node.url, 'POST', '/v2/sys/init', {
        body: { secretShares: 5, secretThreshold: 3 },
      });
      assert.equal(again.status, 409);

      const sealed = await call(node.url, 'GET', '/v2/projects', { token });
      assert.equal(sealed.status, 503);
      assert.equal(sealed.body.error.code, 'sealed');
      const noToken = await call(node.url, 'GET', '/v2/projects');
      assert.equal(noToken.status, 401, '401 comes before 503 sealed');

      const keys: string[] = init.body.keys;
      let status = await call(node.url, 'POST', '/v2/sys/unseal', { body: { key: keys[0] } });
      assert.deepEqual([status.body.sealed, status.body.progress, status.body.threshold], [true, 1, 3]);
      const nonce: string = status.body.nonce;
      status = await call(node.url, 'POST', '/v2/sys/unseal', { body: { key: keys[0], nonce } });
      assert.equal(status.status, 400, 'the same share twice is refused');
      assert.equal(
        (await call(node.url, 'GET', `/v2/sys/seal-status?nonce=${nonce}`)).body.progress,
        1,
        'and counts once',
      );
      const forged = Buffer.from(keys[1]!, 'base64');
      forged[0]! ^= 0xff;
      status = await call(node.url, 'POST', '/v2/sys/unseal', { body: { key: keys[1], nonce } });
      status = await call(node.url, 'POST', '/v2/sys/unseal', {
        body: { key: forged.toString('base64'), nonce },
      });
      assert.equal(status.status, 400);
      assert.equal(status.body.error.code, 'invalid_argument');
      assert.match(status.body.error.message, /not a share of this Coffer/);
      assert.equal(
        (await call(node.url, 'GET', `/v2/sys/seal-status?nonce=${nonce}`)).body.progress,
        2,
        'a value that is not a share never joins the attempt',
      );

      const notAShare = await call(node.url, 'POST', '/v2/sys/unseal', { body: { key: 'c2hvcnQ=' } });
      assert.equal(notAShare.status, 400);

      status = await unsealWith(node.url, [keys[4]!, keys[2]!, keys[0]!]);
      assert.equal(status.body.sealed, false);
      const open = await call(node.url, 'GET', '/v2/projects', { token });
      assert.equal(open.status, 200);

      const resealed = await call(node.url, 'POST', '/v2/sys/seal', { token });
      assert.equal(resealed.status, 200);
      assert.equal(resealed.body.sealed, true);
      assert.equal((await call(node.url, 'GET', '/v2/projects', { token })).status, 503);
      status = await unsealWith(node.url, keys.slice(0, 3));
      assert.equal(status.body.sealed, false, JSON.stringify(status.body));
    } finally {
      await node.destroy();
    }
  });

  test('a restarted shamir node is sealed and unseals with any threshold of shares', async () => {
    const node = await startTestNode({ env: { COFFER_SEAL: 'shamir' } });
    const init = await call(node.url, 'POST', '/v2/sys/init', {
      body: { secretShares: 3, secretThreshold: 2 },
    });
    await node.stop();
    const again = await startTestNode({ dataDir: node.dataDir, env: { COFFER_SEAL: 'shamir' } });
    try {
      assert.equal((await call(again.url, 'GET', '/v2/sys/seal-status')).body.sealed, true);
      const status = await unsealWith(again.url, [init.body.keys[2], init.body.keys[1]]);
      assert.equal(status.body.sealed, false);
    } finally {
      await again.destroy();
    }
  });

  test('a data dir initialized with the file seal refuses to start as shamir', async () => {
    const node = await startTestNode();
    await node.stop();
    await assert.rejects(
      startTestNode({ dataDir: node.dataDir, env: { COFFER_SEAL: 'shamir' } }),
      /file seal, not shamir/,
    );
    await node.destroy().catch(() => undefined);
  });

  test('init validates its numbers', async () => {
    const node = await startTestNode({ env: { COFFER_SEAL: 'shamir' } });
    try {
      const bad = await call(node.url, 'POST', '/v2/sys/init', {
        body: { secretShares: 3, secretThreshold: 5 },
      });
      assert.equal(bad.status, 400);
      const one = await call(node.url, 'POST', '/v2/sys/init', {
        body: { secretShares: 1, secretThreshold: 1 },
      });
      assert.equal(one.status, 400);
    } finally {
      await node.destroy();
    }
  });
});
