import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A V8 call frame as profiles carry it. */
export interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  /** 0-based. */
  readonly lineNumber: number;
  readonly columnNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

/** The `.cpuprofile` format (DevTools protocol `Profiler.Profile`). Times in microseconds. */
export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** A node of a sampling heap profile (DevTools protocol `HeapProfiler.SamplingHeapProfileNode`). */
export interface HeapProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  /** Bytes allocated by this frame itself (sampled, scaled to an estimate of the total). */
  readonly selfSize: number;
  readonly children: readonly HeapProfileNode[];
}

/**
 * A rule naming the stage of a stack. The stack is searched from the sampled (innermost) frame
 * outwards and the first frame some rule matches decides: a SQLite read under `findTokenByHash`
 * counts as authentication, the same read under `findKey` as KMS storage.
 */
export interface StageRule {
  readonly stage: string;
  readonly matches: (frame: CallFrame) => boolean;
  /**
   * Rules of tier 0 (the default) are tried on the whole stack before any rule of tier 1, and so on:
   * a Kysely frame (tier 1, storage) under `AuditLog.append` (tier 0, audit) counts as audit.
   */
  readonly tier?: number;
}

/** A weight (time or bytes) per stage. */
export interface StageWeights {
  /** Sum over every stage except `idle`. */
  readonly total: number;
  /** Stage → weight (`idle` included when there was any). */
  readonly stages: ReadonlyMap<string, number>;
  /** Stage → the frames with the most self weight in it: `name (file:line)` and weight, largest first. */
  readonly topFunctions: ReadonlyMap<string, readonly (readonly [string, number])[]>;
}

/** Stages given to V8's pseudo-frames. */
const pseudoStages: ReadonlyMap<string, string> = new Map([
  ['(garbage collector)', 'GC'],
  ['(program)', 'native, outside JS frames'],
  ['(idle)', 'idle'],
]);

/** Reads every `.cpuprofile` in `dir` (one per thread that ran JavaScript). */
export function readCpuProfiles(dir: string): { file: string; profile: CpuProfile }[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.cpuprofile'))
    .sort()
    .map((name) => ({
      file: name,
      profile: JSON.parse(readFileSync(join(dir, name), 'utf8')) as CpuProfile,
    }));
}

/** True when some frame of the profile comes from a URL containing `part`. */
export function profileMentions(profile: CpuProfile, part: string): boolean {
  return profile.nodes.some((node) => node.callFrame.url.includes(part));
}

function shortLocation(frame: CallFrame): string {
  const url = frame.url.replace(/^(file:\/\/)?.*?\/(src|bench|node_modules)\//, '$2/');
  const name = frame.functionName || '(anonymous)';
  return url ? `${name} (${url}:${frame.lineNumber + 1})` : name;
}

/** Sums `weights` (node id → weight) per stage, a node's stage decided by `rules` on its stack. */
function attribute(
  nodes: readonly ProfileNode[],
  weights: ReadonlyMap<number, number>,
  rules: readonly StageRule[],
  fallback: string,
): StageWeights {
  const parent = new Map<number, number>();
  const byId = new Map<number, ProfileNode>();
  for (const node of nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const tierNumbers = [...new Set(rules.map((rule) => rule.tier ?? 0))].sort((a, b) => a - b);
  const tiers = tierNumbers.map((tier) => rules.filter((rule) => (rule.tier ?? 0) === tier));
  const stageOfNode = (id: number): string => {
    const own = byId.get(id)!.callFrame;
    let stage = own.url === '' ? pseudoStages.get(own.functionName) : undefined;
    for (const tierRules of tiers) {
      for (let at: number | undefined = id; stage === undefined && at !== undefined; at = parent.get(at)) {
        const frame = byId.get(at)!.callFrame;
        stage = tierRules.find((rule) => rule.matches(frame))?.stage;
      }
    }
    return stage ?? fallback;
  };

  const stages = new Map<string, number>();
  const selfWeight = new Map<string, Map<string, number>>();
  let total = 0;
  for (const [id, weight] of weights) {
    if (weight === 0) continue;
    const stage = stageOfNode(id);
    stages.set(stage, (stages.get(stage) ?? 0) + weight);
    if (stage === 'idle') continue;
    total += weight;
    const fn = shortLocation(byId.get(id)!.callFrame);
    const perStage = selfWeight.get(stage) ?? new Map<string, number>();
    perStage.set(fn, (perStage.get(fn) ?? 0) + weight);
    selfWeight.set(stage, perStage);
  }
  const topFunctions = new Map<string, (readonly [string, number])[]>();
  for (const [stage, functions] of selfWeight) {
    topFunctions.set(stage, [...functions.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5));
  }
  return { total, stages, topFunctions };
}

/**
 * Sampled time per stage (microseconds) for the samples taken between `window.fromUs` and
 * `window.toUs` (V8's monotonic clock: the same as `process.hrtime` in another process on the same
 * machine). V8 samples wall time: a thread preempted by another on its core keeps being sampled in
 * the frame where it stopped, so compare the total with the thread's CPU time from /proc.
 */
export function cpuStages(
  profile: CpuProfile,
  rules: readonly StageRule[],
  fallback: string,
  window?: { fromUs: number; toUs: number },
): StageWeights {
  const weights = new Map<number, number>();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    // A sample stands for the time until the next one.
    const us = profile.timeDeltas[i + 1] ?? 0;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    const id = profile.samples[i]!;
    weights.set(id, (weights.get(id) ?? 0) + us);
  }
  return attribute(profile.nodes, weights, rules, fallback);
}

/** Allocated bytes per stage from a sampling heap profile (objects collected since included). */
export function heapStages(
  head: HeapProfileNode,
  rules: readonly StageRule[],
  fallback: string,
): StageWeights {
  const nodes: ProfileNode[] = [];
  const weights = new Map<number, number>();
  const stack: HeapProfileNode[] = [head];
  while (stack.length > 0) {
    const node = stack.pop()!;
    nodes.push({ id: node.id, callFrame: node.callFrame, children: node.children.map((child) => child.id) });
    weights.set(node.id, node.selfSize);
    stack.push(...node.children);
  }
  return attribute(nodes, weights, rules, fallback);
}
