/**
 * Full jitter: a uniform delay up to min(cap, base·2^attempt), so that many agents that lost the
 * server at the same moment do not all come back at the same moment.
 */
export function jitteredBackoffMs(attempt: number, baseMs = 250, capMs = 30_000): number {
  return Math.random() * Math.min(capMs, baseMs * 2 ** attempt);
}
