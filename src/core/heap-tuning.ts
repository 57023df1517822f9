import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/**
 * How the server bounds V8's heap from within the process (no command-line flag needed).
 *
 * Young generation: Node 24 lets each of the new space's two semi-spaces grow to 64 MB on a machine
 * with a few GB of memory. Under load both fill, so 128 MB of the server's resident memory would be
 * nursery. 16 MB per semi-space still keeps a request's short-lived objects young at 64 connections
 * (a scavenge every ≈16 MB allocated; an object is promoted after surviving two).
 *
 * Old generation: after each full collection V8 lets the old space grow up to 4× what survived
 * before the next one (its factor on a machine with several GB). With ≈40 MB live, that is ≈150 MB
 * of mostly dead promoted objects at the peak. 25 % growth (at least V8's minimum step) bounds it at
 * the cost of more frequent, mostly concurrent, full collections (in the secrets bench's batch reads
 * about twice as many as at 50 %, for a peak ≈10 MB lower).
 */
export interface HeapTuning {
  /** Cap of one semi-space, in MB. */
  readonly maxSemiSpaceMb: number;
  /** Old-space growth allowed between two full collections, in percent of what survived (0: V8's). */
  readonly oldGrowthPercent: number;
}

export const defaultHeapTuning: HeapTuning = { maxSemiSpaceMb: 16, oldGrowthPercent: 25 };

/** V8's own growth factor of the new space (`--semi-space-growth-factor`). */
const v8GrowthFactor = 2;

const youngFlags = /--(max|min)[-_]semi[-_]space[-_]size|--semi[-_]space[-_]growth[-_]factor/;
const oldFlags = /--heap[-_]growing[-_]percent/;

/** True when `pattern` names a flag the process was started with (node's arguments or NODE_OPTIONS). */
export function startedWith(
  pattern: RegExp,
  execArgv: readonly string[] = process.execArgv,
  nodeOptions = process.env.NODE_OPTIONS ?? '',
): boolean {
  return execArgv.some((arg) => pattern.test(arg)) || pattern.test(nodeOptions);
}

/** V8's heap page: semi-space capacities are whole pages. */
const pageBytes = 256 * 1024;

/**
 * One semi-space's current capacity in the calling isolate, in bytes: what the new space holds plus
 * what it can still take (its committed size counts the second semi-space only once it is in use),
 * rounded up to whole pages (page headers are not available to objects).
 */
export function semiSpaceBytes(): number {
  const space = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  if (space === undefined) return 0;
  return Math.ceil((space.space_used_size + space.space_available_size) / pageBytes) * pageBytes;
}

let observer: PerformanceObserver | undefined;
let factorSet = v8GrowthFactor;

function setGrowthFactor(factor: number): void {
  if (factor === factorSet) return;
  setFlagsFromString(`--semi-space-growth-factor=${factor}`);
  factorSet = factor;
}

/**
 * Keeps the new space at its current size (growth factor 1) until `tuneHeap` lets it grow to the
 * cap. Call it before the server's modules load: loading and compiling them would otherwise grow the
 * new space to V8's maximum before the cap applies.
 */
export function holdYoungGeneration(): void {
  if (!startedWith(youngFlags)) setGrowthFactor(1);
}

/**
 * Applies `tuning` to the process's isolates. V8 reads `--max-semi-space-size` only when an isolate
 * is created (a command-line flag), but reads `--semi-space-growth-factor` whenever it grows a new
 * space (after a scavenge in which many objects survived) and `--heap-growing-percent` whenever it
 * sets the next full collection's limit. So after every collection (a `gc` performance entry) the
 * growth factor is set to ⌊cap ÷ current semi-space⌋: the next growth lands at the cap at most, and
 * at the cap the factor is 1 (V8 may shrink the new space when the process idles; it then grows back
 * to the cap in one step). The entry arrives an event-loop turn or two after the collection: only a
 * second growth within that window (a cap's worth of surviving objects allocated in one or two turns)
 * could pass the cap, and the next entry stops it there. A flag the process was started with (e.g. `node --max-semi-space-size=64`) wins: the
 * part it covers is left alone. Both flags are global: a worker thread without its own
 * `resourceLimits` follows them too. Returns a function that restores V8's defaults.
 */
export function tuneHeap(tuning: HeapTuning = defaultHeapTuning): () => void {
  const undo: (() => void)[] = [];
  if (tuning.oldGrowthPercent > 0 && !startedWith(oldFlags)) {
    setFlagsFromString(`--heap-growing-percent=${Math.ceil(tuning.oldGrowthPercent)}`);
    undo.push(() => setFlagsFromString('--heap-growing-percent=0'));
  }
  if (!startedWith(youngFlags)) {
    const cap = tuning.maxSemiSpaceMb * 1024 * 1024;
    // One growth lands at or below the cap (V8 multiplies the capacity by the factor).
    const adjust = () =>
      setGrowthFactor(Math.max(1, Math.floor(cap / Math.max(pageBytes, semiSpaceBytes()))));
    observer?.disconnect();
    const current = new PerformanceObserver(adjust);
    current.observe({ entryTypes: ['gc'] });
    observer = current;
    adjust();
    undo.push(() => {
      current.disconnect();
      if (observer === current) observer = undefined;
      setGrowthFactor(v8GrowthFactor);
    });
  }
  return () => {
    for (const step of undo) step();
  };
}
