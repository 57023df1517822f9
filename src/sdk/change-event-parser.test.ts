import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type ChangeEvent, createChangeEventParser, type FeedServerError } from './change-event-parser.ts';

function change(cursor: string, extra: Partial<ChangeEvent> = {}): ChangeEvent {
  return {
    cursor,
    time: '2026-12-07T15:30:00.123Z',
    type: 'version.added',
    resource: 'projects/p/regions/local/instances/app/secrets/prod%2Fdb',
    version: 3,
    principal: 'user:alice@example.com',
    ...extra,
  };
}

/** Feeds `chunks` and records what the parser reports, in order. */
function parse(chunks: readonly string[]) {
  const seen: Array<
    | { change: ChangeEvent }
    | { cursor: string }
    | { retryMs: number }
    | { invalid: string }
    | { error: FeedServerError }
  > = [];
  const parser = createChangeEventParser({
    onChange: (c) => seen.push({ change: c }),
    onCursor: (cursor) => seen.push({ cursor }),
    onRetry: (retryMs) => seen.push({ retryMs }),
    onInvalid: (invalid) => seen.push({ invalid }),
    onServerError: (error) => seen.push({ error }),
  });
  for (const chunk of chunks) parser.feed(chunk);
  return seen;
}

const frame = (c: ChangeEvent) => `id: ${c.cursor}\nevent: change\ndata: ${JSON.stringify(c)}\n\n`;

describe('change feed SSE parser', () => {
  test('one framed change gives its cursor, then the change', () => {
    assert.deepEqual(parse([frame(change('42'))]), [{ cursor: '42' }, { change: change('42') }]);
  });

  test('data over several lines is joined with newlines (JSON across lines still parses)', () => {
    const c = change('7', { stage: 'current' });
    const text = JSON.stringify(c, null, 2)
      .split('\n')
      .map((line) => `data: ${line}`)
      .join('\n');
    assert.deepEqual(parse([`id: 7\nevent: change\n${text}\n\n`]), [{ cursor: '7' }, { change: c }]);
  });

  test('comments (the heartbeat, connected) are skipped and retry: sets the reconnection delay', () => {
    const seen = parse([
      `retry: 1000\n: connected\n\n: heartbeat\n\n`,
      frame(change('3')),
      ': heartbeat\n\n',
    ]);
    assert.deepEqual(seen, [{ retryMs: 1000 }, { cursor: '3' }, { change: change('3') }]);
  });

  test('an id without data moves the resume cursor and delivers no change', () => {
    assert.deepEqual(parse(['id: 99\n\n']), [{ cursor: '99' }]);
  });

  test('CRLF and bare CR line ends parse like LF', () => {
    const crlf = frame(change('5')).replaceAll('\n', '\r\n');
    const cr = frame(change('6')).replaceAll('\n', '\r');
    assert.deepEqual(parse([crlf, cr]), [
      { cursor: '5' },
      { change: change('5') },
      { cursor: '6' },
      { change: change('6') },
    ]);
  });

  test('chunks split anywhere (mid-field, mid-CRLF, one char at a time) give the same result', () => {
    const text = `: heartbeat\r\n\r\n${frame(change('10')).replaceAll('\n', '\r\n')}${frame(change('11'))}`;
    const whole = parse([text]);
    assert.equal(whole.filter((s) => 'change' in s).length, 2);
    assert.deepEqual(parse([...text]), whole);
    for (const at of [1, 5, 17, 40, text.indexOf('\r\n') + 1, text.length - 1])
      assert.deepEqual(parse([text.slice(0, at), text.slice(at)]), whole, `split at ${at}`);
  });

  test('events of other names are skipped; event: error reports the error body', () => {
    const body = { error: { code: 'gone', message: 'pruned', oldestCursor: '40' } };
    const seen = parse([`event: other\ndata: {}\n\nevent: error\ndata: ${JSON.stringify(body)}\n\n`]);
    assert.deepEqual(seen, [{ error: { code: 'gone', message: 'pruned', details: { oldestCursor: '40' } } }]);
  });

  test('a message that is not a change is reported without quoting its data', () => {
    const seen = parse([
      'event: change\ndata: not-json s3cr3t\n\n',
      `event: change\ndata: ${JSON.stringify({ ...change('1'), cursor: 'abc' })}\n\n`,
    ]);
    assert.equal(seen.length, 2);
    for (const s of seen) {
      assert.ok('invalid' in s);
      assert.ok(!s.invalid.includes('s3cr3t'));
    }
  });
});
