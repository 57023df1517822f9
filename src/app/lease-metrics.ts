import type { Kysely } from 'kysely';
import type { Metric, MetricValue, Registry } from 'prom-client';
import type { Clock } from '../core/clock.ts';
import type { Database } from '../storage/schema.ts';

/** Lease states counted (a closed set: the label never holds anything else). */
const leaseStates = ['active', 'revoking', 'revoke_failed'] as const;

/** How far ahead `coffer_leases_expiring` looks. */
const expiringWithinMs = 5 * 60_000;

/**
 * The lease series (docs/metrics.md), read from storage at scrape time with one aggregate query each
 * (the `(state, expire_time)` index): `coffer_leases{state}` — unrevoked dynamic-credential leases
 * of the cluster by state (`revoke_failed`: revocation keeps failing, see docs/leases.md) — and
 * `coffer_leases_expiring` (active leases expiring within 5 minutes). Revoked leases are not
 * counted. When storage cannot be read the series are left out of that scrape (and
 * `coffer_storage_read_errors_total` counts the failure).
 */
export function registerLeaseMetrics(registry: Registry, db: Kysely<Database>, clock: Clock): void {
  const family = (name: string, help: string, read: () => Promise<MetricValue<string>[]>) =>
    registry.registerMetric({
      name,
      help,
      async get() {
        let values: MetricValue<string>[] = [];
        try {
          values = await read();
        } catch {
          // Storage down: the scrape still answers with every other series.
        }
        return { name, help, type: 'gauge', values, aggregator: 'max' };
      },
      reset() {},
    } as unknown as Metric);
  family(
    'coffer_leases',
    'Unrevoked dynamic-credential leases by state (of the whole cluster).',
    async () => {
      const rows = await db
        .selectFrom('db_leases')
        .select(['state', db.fn.countAll<string | number>().as('n')])
        .where('state', 'in', [...leaseStates])
        .groupBy('state')
        .execute();
      const counts = new Map(rows.map((r) => [r.state, Number(r.n)]));
      return leaseStates.map((state) => ({ labels: { state }, value: counts.get(state) ?? 0 }));
    },
  );
  family(
    'coffer_leases_expiring',
    'Active dynamic-credential leases expiring within the next 5 minutes (of the whole cluster).',
    async () => {
      const row = await db
        .selectFrom('db_leases')
        .select(db.fn.countAll<string | number>().as('n'))
        .where('state', '=', 'active')
        .where('expire_time', '<=', clock.nowMs() + expiringWithinMs)
        .executeTakeFirst();
      return [{ labels: {}, value: Number(row?.n ?? 0) }];
    },
  );
}
