/**
 * Audit verification speed: seeds `n` hash-chained audit events (one chain, `hashEvent` of the
 * benchmarked checkout's src/audit/audit-chain.ts) into a fresh SQLite store through the storage's
 * own `write`, in batches of 5,000, then times `verifyAuditChains` (src/audit/audit-verifier.ts) over
 * them. Prints one JSON line. Started by the audit scenario, pinned to the server CPU:
 * `node bench/tools/audit-verify.ts <coffer-dir> <work-dir> <n>`.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [cofferDir = '.', workDir = '.', count = '1000000'] = process.argv.slice(2);
const n = Number(count);
const load = async <T>(relative: string): Promise<T> =>
  (await import(pathToFileURL(join(cofferDir, relative)).href)) as T;

interface Storage {
  readonly db: { insertInto: (table: string) => { values: (row: Record<string, unknown>) => unknown } };
  write: (statements: readonly unknown[]) => Promise<unknown>;
  close: () => Promise<void>;
}
const { openStorage } = await load<{
  openStorage: (o: { dataDir: string; writeTimeoutMs: number }) => Promise<Storage>;
}>('src/storage/open-storage.ts');
const { stmt } = await load<{ stmt: (query: unknown) => unknown }>('src/storage/storage-types.ts');
const { genesisHash, hashEvent } = await load<{
  genesisHash: string;
  hashEvent: (row: Record<string, unknown>) => string;
}>('src/audit/audit-chain.ts');
const { verifyAuditChains } = await load<{
  verifyAuditChains: (storage: unknown, key: undefined) => Promise<{ checked: number; valid: boolean }>;
}>('src/audit/audit-verifier.ts');

const dir = mkdtempSync(join(workDir, 'audit-verify-'));
try {
  const storage = await openStorage({ dataDir: dir, writeTimeoutMs: 120_000 });
  try {
    const chain = randomUUID();
    let head = genesisHash;
    let batch: unknown[] = [];
    const t0 = performance.now();
    const start = Date.now();
    for (let seq = 1; seq <= n; seq++) {
      const row = {
        id: randomUUID(),
        chain_id: chain,
        seq,
        time: start + seq,
        request_id: randomUUID(),
        action: 'secrets.get_value',
        principal: 'user:admin@coffer.internal',
        on_behalf_of: null,
        resource: `projects/p/regions/local/instances/i/secrets/bench%2Fs-${String(seq % 1000).padStart(5, '0')}`,
        project_id: 'p',
        result: 'ok',
        status: 200,
        source_ip: '127.0.0.1',
        user_agent: 'bench',
        details: '{"version":1}',
        prev_hash: head,
      };
      head = hashEvent(row);
      batch.push(stmt(storage.db.insertInto('audit_events').values({ ...row, hash: head })));
      if (batch.length === 5000) {
        await storage.write(batch);
        batch = [];
      }
    }
    if (batch.length > 0) await storage.write(batch);
    const seedSeconds = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    // verifyAuditChains takes the storage since 95b1311, its Kysely handle before.
    const result = await verifyAuditChains(storage, undefined).catch((err: unknown) => {
      if (err instanceof TypeError && err.message.includes('selectFrom'))
        return verifyAuditChains(storage.db, undefined);
      throw err;
    });
    const verifySeconds = (performance.now() - t1) / 1000;
    process.stdout.write(
      `${JSON.stringify({
        events: n,
        seedSeconds,
        verifySeconds,
        checked: result.checked,
        result,
        eventsPerSecond: result.checked / verifySeconds,
      })}\n`,
    );
  } finally {
    await storage.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
