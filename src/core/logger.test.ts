import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { createLogger, LazyChildLogger, type Logger } from './logger.ts';

function capture(level: string): {
  logger: Logger;
  lines: Record<string, unknown>[];
  children: () => number;
} {
  const sink = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  sink.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
      lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  const logger = createLogger(level, sink);
  let made = 0;
  const child = logger.child.bind(logger);
  logger.child = ((...args: Parameters<Logger['child']>) => {
    made++;
    return child(...args);
  }) as Logger['child'];
  return { logger, lines, children: () => made };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

test('a lazy child makes no pino child while nothing it is asked to log is written', () => {
  const { logger, children } = capture('warn');
  const lazy = new LazyChildLogger(logger, { requestId: 'r-1' });
  lazy.info({ token: 'x' }, 'dropped');
  lazy.debug('dropped');
  lazy.trace('dropped');
  assert.equal(lazy.level, 'warn');
  assert.equal(lazy.isLevelEnabled('info'), false);
  assert.equal(lazy.isLevelEnabled('error'), true);
  assert.equal(children(), 0);
});

test('its first written line makes the child once: bindings, redaction and level as an eager child', async () => {
  const { logger, lines, children } = capture('warn');
  const lazy = new LazyChildLogger(logger, { requestId: 'r-2' });
  lazy.warn({ password: 'hunter2', a: { token: 't' } }, 'first');
  lazy.error(new Error('second'));
  await flush();
  assert.equal(children(), 1);
  assert.equal(lines.length, 2);
  assert.equal(lines[0]!.requestId, 'r-2');
  assert.equal(lines[0]!.password, '[redacted]');
  assert.deepEqual(lines[0]!.a, { token: '[redacted]' });
  assert.equal(lines[1]!.requestId, 'r-2');
  assert.ok(!JSON.stringify(lines).includes('hunter2'));
});

test("a child level of its own (a route's logLevel) decides, without making the child", async () => {
  const { logger, lines, children } = capture('warn');
  const lazy = new LazyChildLogger(logger, { requestId: 'r-3' }, { level: 'debug' });
  assert.equal(lazy.isLevelEnabled('debug'), true);
  assert.equal(lazy.isLevelEnabled('trace'), false);
  lazy.trace('dropped');
  assert.equal(children(), 0);
  lazy.debug('kept');
  await flush();
  assert.equal(children(), 1);
  assert.deepEqual(
    lines.map((l) => [l.msg, l.requestId]),
    [['kept', 'r-3']],
  );
  const silent = new LazyChildLogger(logger, {}, { level: 'silent' });
  assert.equal(silent.isLevelEnabled('fatal'), false);
});
