import type { HeapProfileNode } from './profile-stages.ts';

/** A DevTools-protocol session with a process started with `--inspect=127.0.0.1:<port>`. */
export interface InspectorSession {
  readonly send: (method: string, params?: Record<string, unknown>) => Promise<unknown>;
  readonly close: () => void;
}

/** The inspector's WebSocket URL, from the "Debugger listening on ws://…" line a process prints. */
export function inspectorUrlIn(log: string): string | undefined {
  return /Debugger listening on (ws:\/\/\S+)/.exec(log)?.[1];
}

/**
 * Connects to an inspector WebSocket (Node's built-in WebSocket client). Start the process with
 * `--inspect=127.0.0.1:0` and read the URL from its output: a port chosen in advance could be
 * taken by the time the process binds it.
 */
export async function connectInspector(url: string): Promise<InspectorSession> {
  const socket = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve(), { once: true });
    socket.addEventListener('error', () => reject(new Error(`cannot connect to ${url}`)), { once: true });
  });
  let nextId = 1;
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  socket.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as {
      id?: number;
      result?: unknown;
      error?: { message: string };
    };
    if (message.id === undefined) return;
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.error) waiter.reject(new Error(message.error.message));
    else waiter.resolve(message.result);
  });
  return {
    send(method, params = {}) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        socket.send(JSON.stringify({ id, method, params }));
      });
    },
    close: () => socket.close(),
  };
}

/**
 * Runs `during` with V8's sampling heap profiler on, counting objects already collected too, so the
 * result is what was allocated (the garbage the collector then has to deal with), not what is live.
 */
export async function sampleAllocations<T>(
  session: InspectorSession,
  during: () => Promise<T>,
  samplingIntervalBytes = 4096,
): Promise<{ result: T; head: HeapProfileNode }> {
  await session.send('HeapProfiler.enable');
  await session.send('HeapProfiler.startSampling', {
    samplingInterval: samplingIntervalBytes,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  let result: T;
  try {
    result = await during();
  } catch (err) {
    await session.send('HeapProfiler.stopSampling').catch(() => undefined);
    throw err;
  }
  const stopped = (await session.send('HeapProfiler.stopSampling')) as { profile: { head: HeapProfileNode } };
  return { result, head: stopped.profile.head };
}
