/** One Server-Sent Event as a test sees it. */
export interface SseEvent {
  readonly id?: string;
  readonly event?: string;
  readonly data?: string;
  /** Comment lines (`: heartbeat`) seen since the previous event. */
  readonly comments: string[];
}

/** An open event stream: its status, and its events in order as they arrive. */
export interface SseConnection {
  readonly status: number;
  readonly headers: Headers;
  /** The body when the answer was not a stream (an error), parsed as JSON. */
  readonly errorBody?: unknown;
  /** Resolves with the next event (or comment block); undefined when the stream ended. */
  next(timeoutMs?: number): Promise<SseEvent | undefined>;
  /** Closes the connection. */
  close(): void;
}

/** Opens `url` as an event stream (a plain fetch, parsed line by line). */
export async function openSse(url: string, headers: Record<string, string>): Promise<SseConnection> {
  const controller = new AbortController();
  const response = await fetch(url, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: controller.signal,
  });
  if (!response.headers.get('content-type')?.startsWith('text/event-stream')) {
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      errorBody: text ? JSON.parse(text) : undefined,
      next: async () => undefined,
      close: () => controller.abort(),
    };
  }
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let ended = false;
  const queue: SseEvent[] = [];
  let comments: string[] = [];
  const parseBlock = (block: string) => {
    const fields: Record<string, string> = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) comments.push(line.slice(1).trim());
      else {
        const at = line.indexOf(':');
        const name = at < 0 ? line : line.slice(0, at);
        fields[name] = at < 0 ? '' : line.slice(at + 1).replace(/^ /, '');
      }
    }
    queue.push({ ...fields, comments });
    comments = [];
  };
  const fill = async (): Promise<void> => {
    const { value, done } = await reader.read();
    if (done) {
      ended = true;
      return;
    }
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      parseBlock(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
  };
  let pending: Promise<void> | undefined;
  return {
    status: response.status,
    headers: response.headers,
    async next(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (queue.length === 0 && !ended) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error('no event within the timeout');
        pending ??= fill().finally(() => {
          pending = undefined;
        });
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          pending,
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, left);
          }),
        ]);
        clearTimeout(timer);
      }
      return queue.shift();
    },
    close() {
      controller.abort();
      void reader.cancel().catch(() => undefined);
    },
  };
}
