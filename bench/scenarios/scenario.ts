import type { MeasureOptions, RunRecord, Summary, Target } from '../lib/measure.ts';
import type { RequestSpec } from '../lib/wrk.ts';

/** What every scenario gets from bench/run.ts. */
export interface ScenarioContext extends MeasureOptions {
  /** The repository root (where bin/coffer.js is). */
  readonly repoDir: string;
}

/** A scenario ready to be measured: its candidates run, the baseline request chosen. */
export interface PreparedScenario {
  /** What the bare baseline server is sent (same method, headers and body size as the candidates). */
  readonly baselineRequest: RequestSpec;
  readonly candidates: readonly Target[];
  /** Stops the scenario's servers and deletes their data. */
  readonly close: () => Promise<void>;
  /**
   * Called after the rounds, before `close` (the servers still run: e.g. their peak RSS), with every
   * run and the summaries; returns a printable report (targets of the scenario's issue, extra
   * measurements such as a single-writer commit rate).
   */
  readonly report?: (records: readonly RunRecord[], summaries: readonly Summary[]) => Promise<string>;
}

/**
 * One benchmark. bench/run.ts starts the bare baseline server, calls `prepare`, measures baseline
 * and candidates interleaved, prints the table, then calls `close`. Add a scenario by writing one
 * file in bench/scenarios/ and listing it in bench/scenarios/index.ts.
 */
export interface Scenario {
  /** Name used by `--only`. */
  readonly name: string;
  /** One line for `--list` and the report. */
  readonly description: string;
  /** Whether `npm run bench` without `--only` runs it. */
  readonly inDefaultRun: boolean;
  /** Concurrencies when `--connections` is not given. */
  readonly defaultConnections?: readonly number[];
  /** Candidate whose ratio at the highest concurrency is checked against `targetRatio`. */
  readonly targetRatio?: number;
  /** The candidate `targetRatio` applies to (default: every candidate). */
  readonly targetCandidate?: string;
  /** Starts servers, creates what the requests need, checks one request of each candidate. */
  readonly prepare?: (ctx: ScenarioContext) => Promise<PreparedScenario>;
  /**
   * A scenario measured without wrk (change latency, feed fan-out): does everything itself and
   * returns a printable report. Given instead of `prepare`.
   */
  readonly run?: (ctx: ScenarioContext) => Promise<string>;
  /** Where the time goes (`--profile`): a printable report, e.g. CPU per stage from `node --cpu-prof`. */
  readonly profile?: (ctx: ScenarioContext, summaries: readonly Summary[]) => Promise<string>;
}
