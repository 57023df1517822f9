/**
 * Audit query speed at scale: seeds `n` audit events into a fresh SQLite store (the server's own
 * schema, through its migrations), spread over 100 projects, 8 actions, 1,000 principals and 5,000
 * resources, then times `queryAuditEvents` (src/audit/audit-query.ts) for each selective filter of
 * issue #5 item 4: a newest-first page of 100, warm cache, median of several runs. Prints one JSON
 * line. `node bench/tools/audit-query.ts <coffer-dir> <work-dir> <n>`; `--keep DIR` reuses or keeps
 * a seeded store (seeding 10M events takes minutes).
 *
 * Seeding writes rows straight through node:sqlite in large transactions with `synchronous=OFF`:
 * the chain hashes are not what is measured here, so each row carries a placeholder hash.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const keepAt = args.indexOf('--keep');
const keep = keepAt >= 0 ? args.splice(keepAt, 2)[1] : undefined;
const [cofferDir = '.', workDir = '.', count = '1000000'] = args;
const n = Number(count);
const load = async <T>(relative: string): Promise<T> =>
  (await import(pathToFileURL(join(cofferDir, relative)).href)) as T;

interface Storage {
  readonly db: unknown;
  close: () => Promise<void>;
}
const { openStorage } = await load<{
  openStorage: (o: { dataDir: string; writeTimeoutMs: number }) => Promise<Storage>;
}>('src/storage/open-storage.ts');
const { queryAuditEvents } = await load<{
  queryAuditEvents: (db: unknown, query: Record<string, unknown>) => Promise<{ items: unknown[] }>;
}>('src/audit/audit-query.ts');

const actions = [
  'secrets.get_value',
  'secrets.put_value',
  'kms.decrypt',
  'kms.encrypt',
  'secrets.secrets.get',
  'secrets.secrets.list',
  'kms.keys.rotate',
];
const project = (i: number) => `p${String(i % 100).padStart(3, '0')}`;
const resourceOf = (i: number) =>
  `projects/${project(i)}/regions/local/instances/i/secrets/app%2Fs-${String(i % 5000).padStart(4, '0')}`;
const principalOf = (i: number) => `user:u${i % 1000}@example.com`;
const start = Date.UTC(2026, 0, 1);

const dir = keep ?? mkdtempSync(join(workDir, 'audit-query-'));
const seeded = keep !== undefined && existsSync(join(dir, 'seeded'));
let seedSeconds = 0;
try {
  if (!seeded) {
    mkdirSync(dir, { recursive: true });
    await (await openStorage({ dataDir: dir, writeTimeoutMs: 120_000 })).close();
    const raw = new DatabaseSync(join(dir, 'coffer.db'));
    raw.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA cache_size = -1000000');
    const insert = raw.prepare(
      `INSERT INTO audit_events (id, chain_id, seq, time, request_id, action, principal, on_behalf_of,
         resource, project_id, result, status, source_ip, user_agent, details, prev_hash, hash)
       VALUES (?, 'c', ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, '127.0.0.1', 'bench', NULL, 'h', 'h')`,
    );
    const t0 = performance.now();
    raw.exec('BEGIN');
    for (let i = 1; i <= n; i++) {
      // Times advance 1 ms per event; ids are time-ordered like the server's.
      const time = start + i;
      const id = `${time.toString(16).padStart(12, '0')}-${randomUUID().slice(13)}`;
      insert.run(
        id,
        i,
        time,
        randomUUID(),
        // iam.policies.set is the rare action (1 event in 10,000), the rest cycle.
        i % 10_000 === 7 ? 'iam.policies.set' : actions[Math.floor(i / 100) % 7]!,
        principalOf(i * 31),
        resourceOf(i * 13),
        project(i),
        i % 50 === 7 ? 'denied' : 'ok',
        i % 50 === 7 ? 403 : 200,
      );
      if (i % 100_000 === 0) {
        raw.exec('COMMIT; BEGIN');
        if (i % 1_000_000 === 0) process.stderr.write(`seeded ${i}\n`);
      }
    }
    raw.exec('COMMIT');
    raw.exec('ANALYZE');
    raw.close();
    seedSeconds = (performance.now() - t0) / 1000;
    if (keep) writeFileSync(join(dir, 'seeded'), `${n}\n`);
  }
  const storage = await openStorage({ dataDir: dir, writeTimeoutMs: 120_000 });
  try {
    // A request id that exists: event number n/2 was seeded with a random one, so look it up.
    const probe = new DatabaseSync(join(dir, 'coffer.db'), { readOnly: true });
    const mid = probe
      .prepare('SELECT request_id, project_id FROM audit_events WHERE seq = ?')
      .get(Math.floor(n / 2)) as { request_id: string; project_id: string };
    probe.close();
    const p = project(7);
    const queries: Record<string, Record<string, unknown>> = {
      project: { projectId: p },
      'project + principal': { projectId: p, principal: principalOf(7 * 31) },
      'project + action': { projectId: p, action: 'iam.policies.set' },
      'project + requestId': { projectId: mid.project_id, requestId: mid.request_id },
      'project + time range': { projectId: p, sinceMs: start + n / 2, untilMs: start + n / 2 + 100_000 },
      // The resource names embed project(13 i): this one has 2,000 events in p007 at 10M.
      'project + resource prefix': { projectId: p, resource: resourceOf(7 * 13) },
      'project + result denied': { projectId: p, result: 'denied' },
      // Not selective: every resource of the project's instance (a page of the newest).
      'project + broad resource prefix': {
        projectId: p,
        resource: 'projects/p091/regions/local/instances/i/secrets/',
      },
    };
    const results: Record<string, { ms: number; items: number }> = {};
    for (const [name, query] of Object.entries(queries)) {
      const times: number[] = [];
      let items = 0;
      for (let round = 0; round < 7; round++) {
        const t = performance.now();
        items = (await queryAuditEvents(storage.db, { ...query, pageSize: 100 })).items.length;
        times.push(performance.now() - t);
      }
      times.sort((a, b) => a - b);
      results[name] = { ms: Number(times[3]!.toFixed(2)), items };
    }
    process.stdout.write(`${JSON.stringify({ events: n, seedSeconds, results })}\n`);
  } finally {
    await storage.close();
  }
} finally {
  if (!keep) rmSync(dir, { recursive: true, force: true });
}
