import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import { CofferError } from '../core/errors.ts';
import { webhookSignatureHeader } from '../core/webhook-signature.ts';
import { type RotationHook, startRotationHook } from '../../test/support/rotation-hook.ts';
import type { RotationContext } from './rotator.ts';
import { checkWebhookUrl, createWebhookRotator, verifyWebhookSignature } from './webhook-rotator.ts';

const signingKey = Buffer.from('whsec-test-signing-key-0123456789');
const currentValue = 'current-password-Ω';

function context(overrides: Partial<RotationContext> = {}): RotationContext & { refs: string[] } {
  const refs: string[] = [];
  return {
    secretName: 'projects/p1/regions/local/instances/main/secrets/db/app',
    rotationId: 'rot-01HX',
    pendingVersion: 4,
    currentVersion: 3,
    currentValue: async () => Buffer.from(currentValue),
    readReference: async (ref: string) => {
      refs.push(ref);
      return signingKey;
    },
    refs,
    ...overrides,
  };
}

async function withHook(fn: (hook: RotationHook) => Promise<void>): Promise<void> {
  const hook = await startRotationHook(signingKey);
  try {
    await fn(hook);
  } finally {
    await hook.close();
  }
}

/** Asserts a target_failed naming the hook's origin, never its path, query, a value or the key. */
async function assertTargetFailed(
  promise: Promise<unknown>,
  hook: RotationHook,
  expect: RegExp,
): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof CofferError);
    assert.equal(err.code, 'target_failed');
    assert.ok(err.message.includes(hook.origin), err.message);
    assert.match(err.message, expect);
    for (const leak of ['/hook', 'q-secret-token', currentValue, 'pending-value', signingKey.toString()])
      assert.ok(!err.message.includes(leak), `message leaks ${leak}: ${err.message}`);
    return true;
  });
}

test('the four steps are signed POSTs carrying the step, ids, versions and the right values', async () => {
  await withHook(async (hook) => {
    const clock = new ManualClock(Date.now());
    const rotator = createWebhookRotator(
      { type: 'webhook', url: hook.url, signingSecret: 'hooks/signing' },
      { clock },
    );
    const ctx = context();
    const pending = await rotator.createValue(ctx);
    assert.equal(pending.toString(), hook.created[0]);
    await rotator.setValue(ctx, pending);
    await rotator.testValue(ctx, pending);
    await rotator.finish(ctx, pending);

    assert.deepEqual(
      hook.calls.map((c) => c.step),
      ['create', 'set', 'test', 'finish'],
    );
    assert.deepEqual(ctx.refs, ['hooks/signing', 'hooks/signing', 'hooks/signing', 'hooks/signing']);
    for (const call of hook.calls) {
      assert.equal(call.signatureValid, true);
      assert.equal(call.headers['content-type'], 'application/json');
      assert.equal(call.headers['coffer-rotation-id'], 'rot-01HX');
      assert.equal(call.headers['coffer-rotation-step'], call.step);
      assert.equal(call.headers['idempotency-key'], `rot-01HX-${call.step}`);
      assert.match(
        String(call.headers['coffer-signature']),
        new RegExp(`^t=${Math.floor(clock.nowMs() / 1000)},v1=`),
      );
      const { pendingValue, currentValue: current, ...rest } = call.body!;
      assert.deepEqual(rest, {
        step: call.step,
        secret: 'projects/p1/regions/local/instances/main/secrets/db/app',
        rotationId: 'rot-01HX',
        pendingVersion: 4,
        currentVersion: 3,
      });
      assert.equal(pendingValue, call.step === 'create' ? undefined : hook.created[0]);
      assert.equal(current, call.step === 'create' || call.step === 'set' ? currentValue : undefined);
    }
  });
});

test('values that are not UTF-8 travel as base64, and a valueBase64 answer is decoded', async () => {
  await withHook(async (hook) => {
    const binary = Buffer.from([0xff, 0x00, 0xfe, 0x80]);
    hook.answer('create', (_call, res) =>
      res.end(JSON.stringify({ valueBase64: binary.toString('base64') })),
    );
    const rotator = createWebhookRotator({ type: 'webhook', url: hook.url, signingSecret: 'k' });
    const ctx = context({ currentVersion: undefined, currentValue: async () => undefined });
    const pending = await rotator.createValue(ctx);
    assert.deepEqual(pending, binary);
    await rotator.setValue(ctx, pending);
    const set = hook.calls[1]!.body!;
    assert.equal(set.pendingValueBase64, binary.toString('base64'));
    assert.equal(set.pendingValue, undefined);
    assert.equal(set.currentValue, undefined);
    assert.equal(set.currentVersion, null);
  });
});

test('a hook answering 500 fails the step with target_failed naming its origin and the status, no value', async () => {
  await withHook(async (hook) => {
    hook.answer('set', (_call, res) => res.writeHead(500).end(`boom ${currentValue}`));
    const rotator = createWebhookRotator({ type: 'webhook', url: hook.url, signingSecret: 'k' });
    await assertTargetFailed(
      rotator.setValue(context(), Buffer.from('pending-value')),
      hook,
      /\(step set\) answered HTTP 500\./,
    );
    await assert.rejects(rotator.setValue(context(), Buffer.from('pending-value')), /answered HTTP 500/);
    assert.equal(hook.calls.length, 2, 'one attempt per call, no retries inside a step');
  });
});

test('a hook that never answers fails the step after timeoutMs', async () => {
  await withHook(async (hook) => {
    hook.answer('test', () => undefined);
    const rotator = createWebhookRotator({
      type: 'webhook',
      url: hook.url,
      signingSecret: 'k',
      timeoutMs: 300,
    });
    const started = performance.now();
    await assertTargetFailed(
      rotator.testValue(context(), Buffer.from('pending-value')),
      hook,
      /within 300 ms/,
    );
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 250 && elapsed < 3000, `took ${elapsed} ms`);
  });
});

test('a hook that answers headers and then stalls its body also times out', async () => {
  await withHook(async (hook) => {
    hook.answer('create', (_call, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"value":');
    });
    const rotator = createWebhookRotator({
      type: 'webhook',
      url: hook.url,
      signingSecret: 'k',
      timeoutMs: 300,
    });
    await assertTargetFailed(rotator.createValue(context()), hook, /within 300 ms/);
  });
});

test('a redirect is not followed and fails the step', async () => {
  await withHook(async (hook) => {
    hook.answer('finish', (_call, res) => res.writeHead(307, { location: `${hook.origin}/elsewhere` }).end());
    const rotator = createWebhookRotator({ type: 'webhook', url: hook.url, signingSecret: 'k' });
    await assertTargetFailed(
      rotator.finish(context(), Buffer.from('pending-value')),
      hook,
      /HTTP 307.*not followed/,
    );
    assert.equal(hook.calls.length, 1);
  });
});

test('an answer over 64 KiB is refused, declared or streamed', async () => {
  await withHook(async (hook) => {
    const big = JSON.stringify({ value: 'x'.repeat(70 * 1024) });
    const rotator = createWebhookRotator({ type: 'webhook', url: hook.url, signingSecret: 'k' });
    hook.answer('create', (_call, res) =>
      res.writeHead(200, { 'content-length': Buffer.byteLength(big) }).end(big),
    );
    await assertTargetFailed(rotator.createValue(context()), hook, /over 65536 bytes/);
    hook.answer('create', (_call, res) => {
      res.writeHead(200);
      for (let i = 0; i < 10; i++) res.write('y'.repeat(8 * 1024));
      res.end();
    });
    await assertTargetFailed(rotator.createValue(context()), hook, /over 65536 bytes/);
  });
});

test('a create answer without a usable value fails the step', async () => {
  await withHook(async (hook) => {
    const rotator = createWebhookRotator({ type: 'webhook', url: hook.url, signingSecret: 'k' });
    for (const [answer, why] of [
      ['not json', /not JSON/],
      ['[1]', /not an object/],
      ['{}', /without a string "value"/],
      ['{"value":""}', /empty/],
      ['{"value":42}', /without a string "value"/],
      ['{"valueBase64":"***"}', /not non-empty standard base64/],
      ['{"value":"a","valueBase64":"YQ=="}', /both/],
    ] as const) {
      hook.answer('create', (_call, res) => res.end(answer));
      await assertTargetFailed(rotator.createValue(context()), hook, why);
    }
  });
});

test('an unreachable hook fails with target_failed naming its origin', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const rotator = createWebhookRotator({
    type: 'webhook',
    url: `http://127.0.0.1:${port}/h`,
    signingSecret: 'k',
  });
  await assert.rejects(rotator.createValue(context()), (err: CofferError) => {
    assert.equal(err.code, 'target_failed');
    assert.match(
      err.message,
      new RegExp(`http://127\\.0\\.0\\.1:${port} \\(step create\\) could not be reached`),
    );
    return true;
  });
});

test('an empty signing secret fails before any call', async () => {
  await withHook(async (hook) => {
    const rotator = createWebhookRotator({ type: 'webhook', url: hook.url, signingSecret: 'k' });
    const ctx = context({ readReference: async () => Buffer.alloc(0) });
    await assert.rejects(rotator.createValue(ctx), /signing secret is empty/);
    assert.equal(hook.calls.length, 0);
  });
});

test('verifyWebhookSignature accepts the signed body and rejects tampering, old timestamps and wrong keys', () => {
  const nowMs = Date.UTC(2026, 11, 7, 20, 0, 0);
  const t = nowMs / 1000;
  const body = '{"step":"set","pendingValue":"p"}';
  const header = webhookSignatureHeader(signingKey, body, t);
  assert.equal(verifyWebhookSignature(header, body, signingKey, 300, nowMs), true);
  assert.equal(verifyWebhookSignature(header, Buffer.from(body), signingKey.toString(), 300, nowMs), true);
  assert.equal(verifyWebhookSignature(header, body.replace('"p"', '"q"'), signingKey, 300, nowMs), false);
  assert.equal(verifyWebhookSignature(header, body, 'another-key', 300, nowMs), false);
  assert.equal(verifyWebhookSignature(header, body, signingKey, 300, nowMs + 301_000), false, 'too old');
  assert.equal(
    verifyWebhookSignature(header, body, signingKey, 300, nowMs - 301_000),
    false,
    'from the future',
  );
  assert.equal(verifyWebhookSignature(header, body, signingKey, 300, nowMs + 299_000), true);
  // A replayed signature with a fresh timestamp does not verify (the timestamp is signed).
  const v1 = header.split('v1=')[1];
  assert.equal(verifyWebhookSignature(`t=${t + 100},v1=${v1}`, body, signingKey, 300, nowMs), false);
  // Key rolling: any one of several v1 entries may match.
  const other = webhookSignatureHeader('old-key', body, t).split('v1=')[1];
  assert.equal(verifyWebhookSignature(`t=${t},v1=${other},v1=${v1}`, body, signingKey, 300, nowMs), true);
  for (const bad of [undefined, '', 'garbage', `v1=${v1}`, `t=${t}`, `t=abc,v1=${v1}`, `t=${t},v1=zz`])
    assert.equal(verifyWebhookSignature(bad, body, signingKey, 300, nowMs), false, String(bad));
});

test('checkWebhookUrl takes https and loopback http, and refuses credentials, plain http and other schemes', () => {
  for (const ok of [
    'https://hooks.example.com/rotate?token=abc',
    'https://hooks.example.com:8443/r',
    'http://127.0.0.1:8080/r',
    'http://localhost/r',
    'http://[::1]:9000/r',
  ])
    assert.doesNotThrow(() => checkWebhookUrl(ok), ok);
  for (const [bad, why] of [
    ['https://user:pass@hooks.example.com/r', /credentials/],
    ['https://user@hooks.example.com/r', /credentials/],
    ['http://hooks.example.com/r', /loopback/],
    ['http://10.0.0.1/r', /loopback/],
    ['ftp://hooks.example.com/r', /https/],
    ['file:///etc/passwd', /https/],
    ['https://hooks.example.com/r#frag', /fragment/],
    ['/relative', /absolute/],
    ['', /URL/],
    [`https://h.example.com/${'a'.repeat(3000)}`, /2048/],
  ] as const)
    assert.throws(
      () => checkWebhookUrl(bad),
      (err: CofferError) => err.code === 'invalid_argument' && why.test(err.message),
      bad,
    );
  // The credentials are not repeated in the error.
  assert.throws(
    () => checkWebhookUrl('https://u:hunter2@h.example.com'),
    (err: Error) => !err.message.includes('hunter2'),
  );
  assert.throws(() =>
    createWebhookRotator({ type: 'webhook', url: 'http://example.com', signingSecret: 'k' }),
  );
});
