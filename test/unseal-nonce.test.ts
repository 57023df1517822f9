import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { runCoffer } from './support/cli-process.ts';
import { call, startTestNode } from './support/test-node.ts';

const unseal = (url: string, body: Record<string, unknown>) => call(url, 'POST', '/v2/sys/unseal', { body });

describe('Shamir unseal attempts carry a nonce', () => {
  test('a wrong share sent without the nonce cannot spoil an unseal in progress', async () => {
    const node = await startTestNode({ env: { COFFER_SEAL: 'shamir' } });
    try {
      const init = await call(node.url, 'POST', '/v2/sys/init', {
        body: { secretShares: 5, secretThreshold: 3 },
      });
      const keys: string[] = init.body.keys;
      const first = await unseal(node.url, { key: keys[0] });
      assert.equal(first.status, 200, JSON.stringify(first.body));
      const nonce: string = first.body.nonce;
      assert.match(nonce, /^[0-9a-f-]{36}$/);
      assert.equal(first.body.progress, 1);
      // The public status names no nonce: an attacker cannot read it there.
      const publicStatus = await call(node.url, 'GET', '/v2/sys/seal-status');
      assert.equal(publicStatus.body.nonce, '');

      // The attacker's forged share is not a share of this Coffer: refused before any attempt.
      const forged = Buffer.from(keys[1]!, 'base64');
      forged[5]! ^= 0xff;
      const attacker = await unseal(node.url, { key: forged.toString('base64') });
      assert.equal(attacker.status, 400);
      assert.match(attacker.body.error.message, /not a share of this Coffer/);
      const guessed = await unseal(node.url, {
        key: keys[3],
        nonce: '00000000-0000-4000-8000-000000000000',
      });
      assert.equal(guessed.status, 400);
      assert.match(guessed.body.error.message, /nonce/);
      const resetAll = await unseal(node.url, { reset: true });
      assert.equal(resetAll.status, 400, 'a reset must name its attempt');

      const second = await unseal(node.url, { key: keys[1], nonce });
      assert.equal(second.body.progress, 2);
      const mine = await call(node.url, 'GET', `/v2/sys/seal-status?nonce=${nonce}`);
      assert.equal(mine.body.progress, 2);
      const third = await unseal(node.url, { key: keys[2], nonce });
      assert.equal(third.status, 200, JSON.stringify(third.body));
      assert.equal(third.body.sealed, false);
    } finally {
      await node.destroy();
    }
  });

  test('starting unseal attempts spends the address’s unseal budget: a flood of starts gets 429', async () => {
    const node = await startTestNode({ env: { COFFER_SEAL: 'shamir' } });
    try {
      const init = await call(node.url, 'POST', '/v2/sys/init', {
        body: { secretShares: 3, secretThreshold: 2 },
      });
      const statuses: number[] = [];
      for (let i = 0; i < 30 && !statuses.includes(429); i++) {
        statuses.push((await unseal(node.url, { key: init.body.keys[0] })).status);
      }
      assert.ok(statuses.includes(429), statuses.join(','));
      assert.ok(statuses.filter((status) => status === 200).length <= 20, statuses.join(','));
    } finally {
      await node.destroy();
    }
  });

  test('one address cannot keep share holders from starting: two attempts each, a fixed lifetime, no share twice', async () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 7, 12));
    const node = await startTestNode({
      env: { COFFER_SEAL: 'shamir', COFFER_TRUST_PROXY: '127.0.0.1' },
      clock,
    });
    const from = (address: string, body: Record<string, unknown>) =>
      call(node.url, 'POST', '/v2/sys/unseal', { body, headers: { 'x-forwarded-for': address } });
    const attacker = '203.0.113.7';
    const minute = 60_000;
    try {
      const init = await call(node.url, 'POST', '/v2/sys/init', {
        body: { secretShares: 5, secretThreshold: 3 },
      });
      const keys: string[] = init.body.keys;
      // A share holder misbehaving (anyone else's values are refused before they reach an attempt).
      const junk = (n: number) => keys[n - 1]!;
      // More starts than there are slots, from one address, waiting out its budget when refused.
      const nonces: string[] = [];
      while (nonces.length < 40) {
        const started = await from(attacker, { key: junk(1) });
        if (started.status === 429) clock.advance(6_100);
        else nonces.push(started.body.nonce);
        assert.ok([200, 429].includes(started.status), JSON.stringify(started.body));
      }
      clock.advance(minute); // its budget back
      const replaced = await from(attacker, { key: junk(2), nonce: nonces[0] });
      assert.match(replaced.body.error.message, /replaced by a newer attempt from the same address/);
      const live = nonces.at(-1)!;
      const again = await from(attacker, { key: junk(1), nonce: live });
      assert.equal(again.status, 400);
      assert.match(again.body.error.message, /already given/);
      clock.advance(10 * minute);
      assert.equal((await from(attacker, { key: junk(2), nonce: live })).body.progress, 2);
      clock.advance(5 * minute); // 15 minutes since it started: shares given meanwhile did not extend it
      assert.match((await from(attacker, { key: junk(3), nonce: live })).body.error.message, /expired/);

      const holder = '198.51.100.20';
      const first = await from(holder, { key: keys[0] });
      assert.equal(first.status, 200, JSON.stringify(first.body));
      await from(holder, { key: keys[1], nonce: first.body.nonce });
      const last = await from(holder, { key: keys[2], nonce: first.body.nonce });
      assert.equal(last.body.sealed, false, JSON.stringify(last.body));
    } finally {
      await node.destroy();
    }
  });

  test('coffer operator unseal prints the nonce, and the other share holders continue with --nonce', async () => {
    const node = await startTestNode({ env: { COFFER_SEAL: 'shamir' } });
    const dir = mkdtempSync(join(tmpdir(), 'coffer-cli-unseal-'));
    try {
      const init = await call(node.url, 'POST', '/v2/sys/init', {
        body: { secretShares: 3, secretThreshold: 2 },
      });
      const env = { COFFER_ADDR: node.url, COFFER_TOKEN: '', COFFER_CONFIG_DIR: join(dir, 'config') };
      const first = await runCoffer(['operator', 'unseal', init.body.keys[0]], env);
      assert.equal(first.code, 0, first.stderr);
      const nonce = /nonce: ([0-9a-f-]{36})/.exec(first.stdout)?.[1];
      assert.ok(nonce, first.stdout);
      assert.match(first.stdout, new RegExp(`coffer operator unseal --nonce ${nonce}`));
      const second = await runCoffer(['operator', 'unseal', '--nonce', nonce, init.body.keys[2]], env);
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, /sealed: false/);
    } finally {
      await node.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
