import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, test } from 'node:test';
import { Barrier, splitUnsealKey } from '../src/barrier/barrier.ts';
import { createSealRecord, hashShares, sealKeyBytes } from '../src/barrier/seal-record.ts';
import { isCofferError } from '../src/core/errors.ts';
import { call, startTestNode } from './support/test-node.ts';

const t0 = Date.UTC(2026, 11, 7, 12);
const junk = () => randomBytes(sealKeyBytes + 1);
const notAShare = (err: unknown) =>
  isCofferError(err, 'invalid_argument') && /not a share of this Coffer/.test((err as Error).message);

async function shamirBarrier(shares: number, threshold: number) {
  const unsealKey = randomBytes(sealKeyBytes);
  const keys = await splitUnsealKey(unsealKey, shares, threshold);
  const record = createSealRecord('shamir', unsealKey, t0, {
    secretShares: shares,
    secretThreshold: threshold,
    shareHashes: hashShares(keys),
  });
  return { barrier: new Barrier('shamir', record), keys };
}

describe('unseal refuses values that are not shares of this Coffer before they reach an attempt', () => {
  test('junk from many addresses cannot evict a real holder’s one-share attempt (threshold 2)', async () => {
    const { barrier, keys } = await shamirBarrier(3, 2);
    const real = await barrier.submitShare(keys[0]!, undefined, '198.51.100.7', t0);
    for (let i = 0; i < 17; i++) {
      for (let j = 0; j < 2; j++) {
        await assert.rejects(
          barrier.submitShare(junk(), undefined, `2001:db8:0:${i}::/64`, t0 + 1),
          notAShare,
        );
      }
    }
    await assert.rejects(barrier.submitShare(junk(), real.nonce, '192.0.2.1', t0 + 2), notAShare);
    assert.equal(barrier.status(real.nonce).progress, 1, 'junk neither joined nor spoiled it');
    const done = await barrier.submitShare(keys[2]!, real.nonce, '203.0.113.9', t0 + 60_000);
    assert.equal(done.sealed, false);
  });

  test('junk attempts cannot fill the slots and block real holders (threshold 3)', async () => {
    const { barrier, keys } = await shamirBarrier(5, 3);
    for (let i = 0; i < 16; i++) {
      for (let j = 0; j < 2; j++) {
        await assert.rejects(barrier.submitShare(junk(), undefined, `2001:db8:0:${i}::/64`, t0), notAShare);
      }
    }
    const first = await barrier.submitShare(keys[3]!, undefined, '198.51.100.7', t0 + 1000);
    await barrier.submitShare(keys[0]!, first.nonce, '198.51.100.8', t0 + 2000);
    const done = await barrier.submitShare(keys[4]!, first.nonce, '198.51.100.9', t0 + 3000);
    assert.equal(done.sealed, false);
  });

  test('init stores one hash per share, as a sorted set; junk gets 400 and spends the unseal budget', async () => {
    const node = await startTestNode({ env: { COFFER_SEAL: 'shamir' } });
    try {
      const init = await call(node.url, 'POST', '/v2/sys/init', {
        body: { secretShares: 5, secretThreshold: 3 },
      });
      const record = JSON.parse(
        readSeal(node.dataDir, (db) => db.prepare("SELECT value FROM system WHERE name = 'seal'").get()),
      );
      const keys: string[] = init.body.keys;
      assert.deepEqual(record.shareHashes, hashShares(keys.map((key) => Buffer.from(key, 'base64'))));
      assert.deepEqual(record.shareHashes, [...record.shareHashes].sort());
      const statuses: number[] = [];
      for (let i = 0; i < 30 && !statuses.includes(429); i++) {
        const answer = await call(node.url, 'POST', '/v2/sys/unseal', {
          body: { key: junk().toString('base64') },
        });
        statuses.push(answer.status);
        if (answer.status === 400) assert.match(answer.body.error.message, /not a share of this Coffer/);
      }
      assert.ok(statuses.includes(429) && !statuses.includes(200), statuses.join(','));
    } finally {
      await node.destroy();
    }
  });

  test('a seal record written before share hashes still unseals, and a wrong share fails only its attempt', async () => {
    const node = await startTestNode({ env: { COFFER_SEAL: 'shamir' } });
    const init = await call(node.url, 'POST', '/v2/sys/init', {
      body: { secretShares: 3, secretThreshold: 2 },
    });
    await node.stop();
    readSeal(node.dataDir, (db) => {
      const { value } = db.prepare("SELECT value FROM system WHERE name = 'seal'").get() as { value: string };
      const { shareHashes: _dropped, ...legacy } = JSON.parse(value);
      db.prepare("UPDATE system SET value = ? WHERE name = 'seal'").run(JSON.stringify(legacy));
      return { value };
    });
    const again = await startTestNode({ dataDir: node.dataDir, env: { COFFER_SEAL: 'shamir' } });
    try {
      const keys: string[] = init.body.keys;
      const unseal = (body: Record<string, unknown>) => call(again.url, 'POST', '/v2/sys/unseal', { body });
      const good = await unseal({ key: keys[0] });
      const bad = await unseal({ key: junk().toString('base64') });
      assert.equal(bad.status, 200, 'nothing to check a share against: it starts an attempt, as before');
      const failed = await unseal({ key: keys[1], nonce: bad.body.nonce });
      assert.equal(failed.status, 400);
      assert.match(failed.body.error.message, /failed/);
      const done = await unseal({ key: keys[2], nonce: good.body.nonce });
      assert.equal(done.body.sealed, false, JSON.stringify(done.body));
    } finally {
      await again.destroy();
    }
  });
});

/** Runs `use` on the node's SQLite store (coffer.db) and returns the row's `value`. */
function readSeal(dataDir: string, use: (db: DatabaseSync) => unknown): string {
  const db = new DatabaseSync(join(dataDir, 'coffer.db'));
  try {
    return (use(db) as { value: string }).value;
  } finally {
    db.close();
  }
}
