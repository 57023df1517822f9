import { type Clock, systemClock } from '../core/clock.ts';
import { migrations as allMigrations, type Migration } from './migrations/index.ts';
import type { Storage } from './storage-types.ts';

/**
 * Applies the migrations not applied yet, in order, in one transaction under `withLock('migrations')`:
 * when several nodes start at once, one migrates and the others find it done. Returns the ids applied.
 */
export async function runMigrations(
  storage: Storage,
  options?: { clock?: Clock; migrations?: readonly Migration[] },
): Promise<string[]> {
  const clock = options?.clock ?? systemClock;
  const migrations = options?.migrations ?? allMigrations;
  return storage.withLock('migrations', async (trx) => {
    await trx.schema
      .createTable('coffer_migrations')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('applied_at', 'bigint', (c) => c.notNull())
      .execute();
    const done = new Set(
      (await trx.selectFrom('coffer_migrations').select('id').execute()).map((row) => row.id),
    );
    const applied: string[] = [];
    for (const migration of migrations) {
      if (done.has(migration.id)) continue;
      await migration.up(trx, storage.engine);
      await trx
        .insertInto('coffer_migrations')
        .values({ id: migration.id, applied_at: clock.nowMs() })
        .execute();
      applied.push(migration.id);
    }
    return applied;
  });
}
