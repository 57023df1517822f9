/**
 * What each audit index and the row itself cost per event on SQLite, measured on the writing
 * thread's CPU: a fresh database per variant, `prefill` events stored first, then `requests`
 * requests' events written like the audit writer does (one unit per group commit: SAVEPOINT, a
 * multi-row INSERT of every event of `group` requests, the chain head upsert, COMMIT with WAL and
 * synchronous=FULL). Prints one JSON line per variant: CPU µs per request (user + system of this
 * single-threaded process) and WAL bytes per request.
 *
 *   node bench/tools/audit-index-cost.ts <work-dir> [prefill] [requests] [group] [shape] [variants…]
 *
 * `shape`: `reveal` (a getSecretValue: secrets.get_value + kms.decrypt) or `batch20` (a
 * batchGetValues(20): 1 + 20 × 2 events). Variants: `all` (today's schema, one row per event),
 * `no-<index>` (today's less one index), `record` (one row per request, its other events in a
 * `companions` column, not indexed), `record-side` (`record` + a side table of the companions'
 * query keys, one WITHOUT ROWID entry per companion and key).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

const [workDir = '.', prefillArg = '200000', requestsArg = '10000', groupArg = '16', shapeArg = 'reveal'] =
  process.argv.slice(2);
const variants = process.argv.slice(7);
const prefill = Number(prefillArg);
const requests = Number(requestsArg);
const group = Number(groupArg);
const shape = shapeArg === 'batch20' ? 'batch20' : 'reveal';

const indexes: Record<string, string> = {
  chain: 'CREATE UNIQUE INDEX audit_events_chain ON audit_events (chain_id, seq)',
  project_time: 'CREATE INDEX audit_events_project_time ON audit_events (project_id, time, id)',
  project_action: 'CREATE INDEX audit_events_project_action ON audit_events (project_id, action, time, id)',
  project_principal:
    'CREATE INDEX audit_events_project_principal ON audit_events (project_id, principal, time, id)',
  project_resource:
    'CREATE INDEX audit_events_project_resource ON audit_events (project_id, resource, time, id)',
  request: 'CREATE INDEX audit_events_request ON audit_events (request_id, time, id)',
};

function schema(db: DatabaseSync, variant: string): void {
  const record = variant.startsWith('record');
  db.exec(`CREATE TABLE audit_events (id text PRIMARY KEY, chain_id text NOT NULL, seq bigint NOT NULL,
    time bigint NOT NULL, request_id text NOT NULL, action text NOT NULL, principal text NOT NULL,
    on_behalf_of text, resource text NOT NULL, project_id text, result text NOT NULL, status integer NOT NULL,
    source_ip text, user_agent text, details text, prev_hash text NOT NULL, hash text NOT NULL
    ${record ? ', companions text' : ''})`);
  for (const [name, ddl] of Object.entries(indexes)) if (variant !== `no-${name}`) db.exec(ddl);
  db.exec(
    'CREATE TABLE audit_chains (chain_id text PRIMARY KEY, head_seq bigint NOT NULL, update_time bigint NOT NULL)',
  );
  if (variant === 'record-side') {
    db.exec(`CREATE TABLE audit_companion_keys (project_id text, term text NOT NULL, time bigint NOT NULL,
      id text NOT NULL, record_id text NOT NULL, PRIMARY KEY (project_id, term, time, id)) WITHOUT ROWID`);
  }
}

// Time-ordered ids, as the server makes them (48-bit ms, then random).
function timeId(ms: number): string {
  const b = randomBytes(16);
  b.writeUIntBE(ms, 0, 6);
  b[6] = (b[6]! & 0x0f) | 0x70;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const project = randomUUID();
const chain = randomUUID();
const keyName = `projects/${project}/regions/local/keyrings/ring/keys/bench-key`;
const hex64 = () => randomBytes(32).toString('hex');

/** A request's events as stored values (`columns` order). */
function requestEvents(now: number): unknown[][] {
  const requestId = timeId(now);
  const base = (
    action: string,
    principal: string,
    onBehalf: string | null,
    resource: string,
    details: string,
  ) => [
    timeId(now),
    chain,
    0,
    now,
    requestId,
    action,
    principal,
    onBehalf,
    resource,
    project,
    'ok',
    200,
    '127.0.0.1',
    'wrk',
    details,
    '',
    '',
  ];
  const pair = () => {
    const secret = `bench%2Fs-${String(Math.floor(Math.random() * 10_000)).padStart(5, '0')}`;
    return [
      base(
        'secrets.get_value',
        'user:admin@coffer.internal',
        null,
        `projects/${project}/regions/local/instances/main/secrets/${secret}`,
        '{"version":1}',
      ),
      base(
        'kms.decrypt',
        'serviceAccount:reader@coffer.internal',
        'user:admin@coffer.internal',
        keyName,
        '{"keyVersion":1,"secret":"x"}',
      ),
    ];
  };
  if (shape === 'reveal') return pair();
  const events = [
    base(
      'secrets.batch_get_values',
      'user:admin@coffer.internal',
      null,
      `projects/${project}/regions/local/instances/main`,
      '{}',
    ),
  ];
  for (let i = 0; i < 20; i++) events.push(...pair());
  return events;
}

let seq = 0;
/** The rows (and side entries) of a group of requests. */
function rowsOf(variant: string, reqs: unknown[][][]): { rows: unknown[][]; side: unknown[][] } {
  const rows: unknown[][] = [];
  const side: unknown[][] = [];
  for (const events of reqs) {
    if (!variant.startsWith('record')) {
      for (const e of events) {
        e[2] = ++seq;
        e[15] = hex64();
        e[16] = hex64();
        rows.push(e);
      }
      continue;
    }
    const [primary, ...rest] = events;
    primary![2] = ++seq;
    primary![15] = hex64();
    primary![16] = hex64();
    const companions = rest.map((e) => [e[0], e[3], e[5], e[6], e[7], e[8], e[9], e[10], e[11], e[14]]);
    rows.push([...primary!, rest.length ? JSON.stringify(companions) : null]);
    if (variant === 'record-side')
      for (const e of rest) {
        side.push([e[9], `a:${e[5]}`, e[3], e[0], primary![0]]);
        side.push([e[9], `p:${e[6]}`, e[3], e[0], primary![0]]);
        side.push([e[9], `r:${e[8]}`, e[3], e[0], primary![0]]);
      }
  }
  return { rows, side };
}

function insertSql(table: string, width: number, n: number, cols?: string): string {
  const row = `(${Array.from({ length: width }, () => '?').join(',')})`;
  return `INSERT INTO ${table}${cols ? ` (${cols})` : ''} VALUES ${Array.from({ length: n }, () => row).join(',')}`;
}

interface Group {
  readonly events: unknown[][];
  readonly side: unknown[][];
  readonly seq: number;
}

/** A group's statements' flat parameters, made before the clock starts (the writer gets them ready). */
function groupOf(variant: string, reqs: unknown[][][]): Group {
  const { rows, side } = rowsOf(variant, reqs);
  const chunks = (list: unknown[][]) => {
    const out: unknown[][] = [];
    for (let i = 0; i < list.length; i += 64) out.push(list.slice(i, i + 64).flat());
    return out;
  };
  return { events: chunks(rows), side: chunks(side), seq };
}

function writeGroup(
  db: DatabaseSync,
  variant: string,
  g: Group,
  cache: Map<string, ReturnType<DatabaseSync['prepare']>>,
): void {
  const width = variant.startsWith('record') ? 18 : 17;
  const prep = (sql: string) => {
    let s = cache.get(sql);
    if (!s) cache.set(sql, (s = db.prepare(sql)));
    return s;
  };
  db.exec('BEGIN IMMEDIATE');
  db.exec('SAVEPOINT coffer_unit');
  for (const chunk of g.events)
    prep(insertSql('audit_events', width, chunk.length / width)).run(...(chunk as never[]));
  for (const chunk of g.side)
    prep(insertSql('audit_companion_keys', 5, chunk.length / 5)).run(...(chunk as never[]));
  prep(
    'INSERT INTO audit_chains (chain_id, head_seq, update_time) VALUES (?, ?, ?) ON CONFLICT (chain_id) DO UPDATE SET head_seq = excluded.head_seq, update_time = excluded.update_time',
  ).run(chain, g.seq, Date.now());
  db.exec('RELEASE coffer_unit');
  db.exec('COMMIT');
}

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

for (const variant of variants.length ? variants : ['all']) {
  const dir = mkdtempSync(join(workDir, 'audit-index-'));
  try {
    const file = join(dir, 'a.db');
    const db = new DatabaseSync(file);
    db.exec(
      'PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA secure_delete = ON; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0;' +
        (process.env.CACHE_KB ? ` PRAGMA cache_size = -${process.env.CACHE_KB};` : ''),
    );
    schema(db, variant);
    const cache = new Map<string, ReturnType<DatabaseSync['prepare']>>();
    let t = Date.now() - 10 * 86_400_000;
    const perPrefill = shape === 'reveal' ? 2 : 41;
    for (let done = 0; done < prefill;) {
      const reqs: unknown[][][] = [];
      for (let i = 0; i < 2000 / perPrefill && done < prefill; i++, done += perPrefill)
        reqs.push(requestEvents((t += 2)));
      writeGroup(db, variant, groupOf(variant, reqs), cache);
    }
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    const groups: Group[] = [];
    for (let done = 0; done < requests;) {
      const reqs: unknown[][][] = [];
      for (let i = 0; i < group && done < requests; i++, done++) reqs.push(requestEvents((t += 1)));
      groups.push(groupOf(variant, reqs));
    }
    const c0 = cpuUs();
    const w0 = performance.now();
    let walBytes = 0;
    for (const g of groups) {
      writeGroup(db, variant, g, cache);
      // The writer's autocheckpoint (10,000 pages), done here so that the WAL bytes can be counted.
      const size = statSync(`${file}-wal`).size;
      if (size >= 10_000 * 4096) {
        walBytes += size;
        db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
      }
    }
    walBytes += statSync(`${file}-wal`).size;
    const cpu = cpuUs() - c0;
    const wall = performance.now() - w0;
    const dbBytes = statSync(file).size;
    db.close();
    process.stdout.write(
      `${JSON.stringify({
        variant,
        shape,
        prefill,
        requests,
        group,
        cpuUsPerRequest: Math.round((cpu / requests) * 10) / 10,
        wallUsPerRequest: Math.round(((wall * 1000) / requests) * 10) / 10,
        walKBPerRequest: Math.round((walBytes / 1024 / requests) * 100) / 100,
        dbMB: Math.round(dbBytes / 1e5) / 10,
      })}\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
