/**
 * Runs `work(i)` for i in 0..count-1 with at most `inFlight` calls at once; returns each call's
 * milliseconds (in completion order).
 */
export async function pooled(
  count: number,
  inFlight: number,
  work: (i: number) => Promise<void>,
): Promise<number[]> {
  const times: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const start = performance.now();
      await work(i);
      times.push(performance.now() - start);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
  return times;
}
