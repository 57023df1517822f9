import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { decodeProtectedHeader, importSPKI, jwtVerify } from 'jose';
import {
  CofferApiError,
  CofferClient,
  type ServiceAccountKeyFile,
  serviceAccountKeyToken,
  serviceAccountKeyTokenProvider,
} from '../src/sdk/index.ts';

const pair = generateKeyPairSync('ed25519');
const keyFile: ServiceAccountKeyFile = {
  type: 'service_account',
  projectId: 'p1',
  clientEmail: 'robot-one@p1.iam.coffer.internal',
  privateKeyId: 'k1',
  privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  tokenUri: '/v2/auth/token',
  algorithm: 'EdDSA',
};

/** A token endpoint double: answers tokens living `lifetimeMs` on the injected clock, or fails. */
function fakeServer(clock: { now: number }, lifetimeMs: number) {
  const assertions: string[] = [];
  let fail = false;
  const fetchDouble: typeof fetch = async (input, init) => {
    assert.equal(String(input), 'http://coffer.test/v2/auth/token');
    const body = JSON.parse(String(init?.body)) as { grantType: string; assertion: string };
    assert.equal(body.grantType, 'urn:ietf:params:oauth:grant-type:jwt-bearer');
    assertions.push(body.assertion);
    if (fail)
      return Response.json(
        { error: { code: 'unauthenticated', message: 'no', requestId: 'r' } },
        { status: 401 },
      );
    return Response.json({
      token: `tok-${assertions.length}`,
      expireTime: new Date(clock.now + lifetimeMs).toISOString(),
    });
  };
  return {
    assertions,
    fetch: fetchDouble,
    setFailing(value: boolean) {
      fail = value;
    },
  };
}

describe('The service-account key token source', () => {
  test('signs an RFC 7523 assertion, renews after 80% of the lifetime and coalesces concurrent calls', async () => {
    const clock = { now: Date.UTC(2026, 0, 1) };
    const server = fakeServer(clock, 3600_000);
    const source = serviceAccountKeyToken(keyFile, {
      address: 'http://coffer.test/',
      now: () => clock.now,
      fetch: server.fetch,
    });
    const first = await Promise.all([source.getToken(), source.getToken(), source.getToken()]);
    assert.deepEqual(first, ['tok-1', 'tok-1', 'tok-1']);
    assert.equal(server.assertions.length, 1);

    const assertion = server.assertions[0]!;
    assert.equal(decodeProtectedHeader(assertion).kid, 'k1');
    const publicKey = await importSPKI(
      pair.publicKey.export({ type: 'spki', format: 'pem' }) as string,
      'EdDSA',
    );
    const { payload } = await jwtVerify(assertion, publicKey, {
      audience: '/v2/auth/token',
      issuer: keyFile.clientEmail,
      subject: keyFile.clientEmail,
      currentDate: new Date(clock.now),
    });
    assert.ok(typeof payload.jti === 'string' && payload.jti.length > 0);
    assert.equal(payload.exp! - payload.iat!, 300);

    clock.now += 2879_000; // just short of 80 % of the hour
    assert.equal(await source.getToken(), 'tok-1');
    assert.equal(server.assertions.length, 1);
    clock.now += 2_000;
    // Due: the callers still get the current token at once, and one renewal runs behind them.
    assert.deepEqual(await Promise.all([source.getToken(), source.getToken()]), ['tok-1', 'tok-1']);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(server.assertions.length, 2);
    assert.equal(await source.getToken(), 'tok-2');
    const jtis = new Set(
      server.assertions.map((a) => JSON.parse(Buffer.from(a.split('.')[1]!, 'base64url').toString()).jti),
    );
    assert.equal(jtis.size, 2, 'every exchange signs a fresh jti');
  });

  test('a failed renewal keeps the current token until it nearly expires, then the caller waits and gets the error', async () => {
    const clock = { now: Date.UTC(2026, 0, 1) };
    const server = fakeServer(clock, 100_000);
    const source = serviceAccountKeyToken(keyFile, {
      address: 'http://coffer.test',
      now: () => clock.now,
      fetch: server.fetch,
    });
    assert.equal(await source.getToken(), 'tok-1');
    server.setFailing(true);
    clock.now += 81_000;
    assert.equal(await source.getToken(), 'tok-1');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(await source.getToken(), 'tok-1');
    assert.equal(server.assertions.length, 2, 'no retry within 5 s of a failure');
    clock.now += 6_000;
    assert.equal(await source.getToken(), 'tok-1');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(server.assertions.length, 3, 'retried after 5 s');
    // 4 s before expiry, inside the margin: no usable token. Two failures so far, so the next
    // exchange waits 10 s after the last (t+87 s); until then the last error comes back at once.
    clock.now += 9_000;
    const is401 = (err: unknown) => err instanceof CofferApiError && err.status === 401;
    await assert.rejects(source.getToken(), is401);
    assert.equal(server.assertions.length, 3, 'no exchange per call while backing off');
    clock.now += 2_000;
    await assert.rejects(source.getToken(), is401);
    assert.equal(server.assertions.length, 4);
    clock.now += 19_000; // the third failure doubled the wait to 20 s
    await assert.rejects(source.getToken(), is401);
    assert.equal(server.assertions.length, 4);
    server.setFailing(false);
    clock.now += 2_000;
    assert.equal(await source.getToken(), 'tok-5');
  });

  test('CofferClient sends the provider’s token; a key file path is read at once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'coffer-sdk-key-'));
    try {
      const path = join(dir, 'key.json');
      writeFileSync(path, JSON.stringify(keyFile), { mode: 0o600 });
      const clock = { now: Date.now() };
      const server = fakeServer(clock, 3600_000);
      const seen: string[] = [];
      const fetchDouble: typeof fetch = async (input, init) => {
        if (String(input).endsWith('/v2/auth/token')) return server.fetch(input, init);
        seen.push(new Headers(init?.headers).get('authorization') ?? '');
        return Response.json({ status: 'ok', version: 'x', storage: { engine: 'sqlite', status: 'ok' } });
      };
      const tokenProvider = serviceAccountKeyTokenProvider(path, {
        address: 'http://coffer.test',
        fetch: fetchDouble,
      });
      const client = new CofferClient({ address: 'http://coffer.test', tokenProvider, fetch: fetchDouble });
      await client.health();
      assert.deepEqual(seen, ['Bearer tok-1']);
      assert.throws(
        () => serviceAccountKeyTokenProvider(join(dir, 'missing.json'), { address: 'http://x' }),
        /ENOENT/,
      );
      writeFileSync(path, JSON.stringify({ ...keyFile, algorithm: 'HS256' }));
      assert.throws(() => serviceAccountKeyTokenProvider(path, { address: 'http://x' }), /algorithm/);
      assert.throws(
        () => new CofferClient({ address: 'http://x', token: 'cfr_x', tokenProvider }),
        /either token or tokenProvider/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
