import type { RunRecord, Target } from '../lib/measure.ts';
import { median } from '../lib/stats.ts';
import { fmt, markdownTable } from '../lib/table.ts';
import type { PreparedScenario, Scenario } from './scenario.ts';
import { type SecretsFixture, secretsFixture, secretsRequests } from './secrets-setup.ts';

/** Secrets the reads spread over (KMS-bound, made through the API). */
const realSecrets = 1000;
/** How often the scraper polls `GET /v2/sys/metrics` while its candidate runs. */
const scrapeIntervalMs = 1000;
/** The bound: getSecretValue with a 1/s scraper keeps ≥ 97 % of its throughput. */
const targetShare = 0.97;

const names = { plain: 'getSecretValue', scraped: 'getSecretValue + 1/s scrape' } as const;

/**
 * Polls the metrics route every second (with the fixture's admin token, which holds
 * sys.metrics.read) and checks each answer; returns the function that stops it and reports how many
 * scrapes were made and whether any failed.
 */
function scraper(fixture: SecretsFixture, tally: { scrapes: number; failures: number }): () => () => void {
  return () => {
    const scrape = () => {
      fetch(`${fixture.server.baseUrl}/v2/sys/metrics`, {
        headers: { authorization: `Bearer ${fixture.server.token}` },
      }).then(
        async (response) => {
          const text = await response.text();
          if (response.status === 200 && text.includes('# TYPE coffer_http_requests_total counter'))
            tally.scrapes += 1;
          else tally.failures += 1;
        },
        () => {
          tally.failures += 1;
        },
      );
    };
    scrape();
    const timer = setInterval(scrape, scrapeIntervalMs);
    return () => clearInterval(timer);
  };
}

/** Median over rounds of `a` req/s ÷ `b` req/s of the same round and concurrency. */
function roundRatio(records: readonly RunRecord[], a: string, b: string, c: number): number {
  const ratios: number[] = [];
  for (const ra of records.filter((r) => r.target === a && r.connections === c)) {
    const rb = records.find((r) => r.target === b && r.connections === c && r.round === ra.round);
    if (rb) ratios.push(ra.wrk.requestsPerSecond / rb.wrk.requestsPerSecond);
  }
  return median(ratios);
}

/**
 * Issue 16's metrics overhead: getSecretValue on one 1,000-secret server, measured as two
 * interleaved candidates, without and with a scraper polling `GET /v2/sys/metrics` every second
 * while (and only while) its candidate runs. The request metrics are always on (every request is
 * counted either way); what the scrape adds is the exposition's cost on the server CPU.
 */
export const metricsScenario: Scenario = {
  name: 'metrics',
  description: 'getSecretValue with and without a 1/s Prometheus scrape of /v2/sys/metrics (≥ 97 %)',
  inDefaultRun: false,
  defaultConnections: [16, 64],
  async prepare(ctx): Promise<PreparedScenario> {
    const fixture = await secretsFixture({
      repoDir: ctx.repoDir,
      workDir: ctx.workDir,
      serverCpu: ctx.serverCpu,
      stored: realSecrets,
      real: realSecrets,
      log: ctx.log,
    });
    const get = secretsRequests(fixture).get;
    const tally = { scrapes: 0, failures: 0 };
    const target = (name: string): Target => ({
      name,
      baseUrl: fixture.server.baseUrl,
      pid: fixture.server.process.pid,
      request: get,
    });
    return {
      baselineRequest: {
        ...get,
        path: '/',
        variants: (get.variants ?? []).map((v) => ({ path: `/${v.path ?? ''}` })),
      },
      candidates: [target(names.plain), { ...target(names.scraped), during: scraper(fixture, tally) }],
      close: () => fixture.server.stop(),
      async report(records) {
        const rows = ctx.connections.map((c) => {
          const share = roundRatio(records, names.scraped, names.plain, c);
          return [String(c), fmt(share, 3), `≥ ${targetShare}`, share >= targetShare ? 'met' : 'NOT MET'];
        });
        return [
          `scrapes answered: ${fmt(tally.scrapes)}, failed: ${fmt(tally.failures)}`,
          '',
          'getSecretValue req/s with a 1/s scrape ÷ without (median over rounds of the per-round ratio):',
          '',
          markdownTable(
            [
              { header: 'c', right: true },
              { header: 'scraped ÷ plain', right: true },
              { header: 'goal' },
              { header: '' },
            ],
            rows,
          ),
        ].join('\n');
      },
    };
  },
};
