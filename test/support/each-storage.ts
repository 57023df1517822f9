/**
 * Storage-level tests on both engines: `testOnEachStorage` registers one test on a fresh SQLite data
 * dir and one on a throwaway PostgreSQL database (skipped outside CI when PostgreSQL is unreachable,
 * failed in CI), each opened with `openStorage` and closed and removed afterwards.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openStorage } from '../../src/storage/open-storage.ts';
import type { Storage } from '../../src/storage/storage-types.ts';
import { createTestDatabase, postgresSkipReason } from './postgres.ts';

export function testOnEachStorage(name: string, run: (storage: Storage, dir: string) => Promise<void>): void {
  test(`sqlite: ${name}`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'coffer-each-storage-'));
    const storage = await openStorage({ dataDir: dir, writeTimeoutMs: 10_000 });
    try {
      await run(storage, dir);
    } finally {
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`postgres: ${name}`, async (t) => {
    const skip = await postgresSkipReason();
    if (skip) {
      t.skip(skip);
      return;
    }
    const database = await createTestDatabase();
    const dir = mkdtempSync(join(tmpdir(), 'coffer-each-storage-pg-'));
    try {
      const storage = await openStorage({ databaseUrl: database.url, dataDir: dir, writeTimeoutMs: 10_000 });
      try {
        await run(storage, dir);
      } finally {
        await storage.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await database.drop();
    }
  });
}
