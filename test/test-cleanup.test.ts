import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startTestNode } from './support/test-node.ts';

test('a test node that fails to start leaves no data dir behind in the temp dir', async () => {
  const scratch = mkdtempSync(join(tmpdir(), 'coffer-cleanup-'));
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = scratch;
  try {
    await assert.rejects(startTestNode({ env: { COFFER_SEAL: 'no-such-seal' } }));
    await assert.rejects(startTestNode({ env: { COFFER_DATABASE_URL: 'postgres://127.0.0.1:1/none' } }));
    assert.deepEqual(readdirSync(scratch), []);
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
    rmSync(scratch, { recursive: true, force: true });
  }
});
