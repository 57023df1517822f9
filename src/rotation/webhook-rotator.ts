import { isUtf8 } from 'node:buffer';
import { isIP } from 'node:net';
import { type Clock, systemClock } from '../core/clock.ts';
import { CofferError, errors } from '../core/errors.ts';
import { webhookSignatureHeader } from '../core/webhook-signature.ts';
import type { RotationContext, RotationStep, Rotator } from './rotator.ts';

/**
 * The webhook rotator: AWS's rotation-Lambda contract (createSecret, setSecret, testSecret,
 * finishSecret) over HTTPS. Each step is one signed POST to the hook; the hook acts on its own
 * target and answers 2xx (at `create`, with the new value). See docs/rotation.md "Webhook contract".
 *
 * A step makes one attempt, never more: the engine records the failure and retries the rotation
 * with backoff ("bounded retries"), and every call carries an `Idempotency-Key` stable across those
 * attempts and across a crash, so a hook can tell a repeat from a new rotation.
 */

export { verifyWebhookSignature } from '../core/webhook-signature.ts';

/** A webhook rotator's configuration (validated by the engine's schema and `checkWebhookUrl`). */
export interface WebhookRotatorConfig {
  readonly type: 'webhook';
  /** The hook: `https://…`, or `http://` to a loopback host only. */
  readonly url: string;
  /** Reference to the secret holding the HMAC-SHA256 signing key (its raw bytes are the key). */
  readonly signingSecret: string;
  /** Time limit of one call (headers and body), 1000..30000 ms; default 10000. */
  readonly timeoutMs?: number;
}

/** What a test (or the engine) may inject. */
export interface WebhookRotatorOptions {
  /** The clock for the signature timestamp. */
  readonly clock?: Clock;
}

/** The default time limit of one hook call. */
export const defaultWebhookTimeoutMs = 10_000;

/** The largest answer a hook may send; a longer one fails the step. */
export const maxWebhookResponseBytes = 64 * 1024;

/** The longest URL accepted. */
const maxUrlLength = 2048;

/**
 * Throws `invalid_argument` unless `url` is an absolute `https://` URL, or `http://` to a loopback
 * host (127.0.0.0/8, ::1, localhost), without credentials (`user:pass@`) or a fragment. Called by
 * the engine when a rotator is set, and again before each call.
 */
export function checkWebhookUrl(url: string): void {
  if (typeof url !== 'string' || url.length === 0 || url.length > maxUrlLength)
    throw errors.invalid(`rotation.rotator.url must be a URL of at most ${maxUrlLength} characters.`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw errors.invalid('rotation.rotator.url is not an absolute URL.');
  }
  if (parsed.username !== '' || parsed.password !== '')
    throw errors.invalid(
      'rotation.rotator.url must not hold credentials (user:password@); the hook authenticates Coffer by its signature.',
    );
  if (parsed.hash !== '') throw errors.invalid('rotation.rotator.url must not have a fragment (#…).');
  if (parsed.protocol === 'https:') return;
  if (parsed.protocol === 'http:') {
    if (isLoopbackHost(parsed.hostname)) return;
    throw errors.invalid(
      'rotation.rotator.url must use https:// (http:// is allowed only to a loopback host).',
    );
  }
  throw errors.invalid(
    'rotation.rotator.url must use https:// (http:// is allowed only to a loopback host).',
  );
}

/** True for `localhost`, 127.0.0.0/8 and ::1 (as `URL.hostname` spells them). */
function isLoopbackHost(hostname: string): boolean {
  if (hostname === 'localhost') return true;
  if (isIP(hostname) === 4) return hostname.startsWith('127.');
  return hostname === '[::1]';
}

/** Builds the webhook rotator for one validated configuration. */
export function createWebhookRotator(
  config: WebhookRotatorConfig,
  options: WebhookRotatorOptions = {},
): Rotator {
  checkWebhookUrl(config.url);
  const clock = options.clock ?? systemClock;
  const timeoutMs = config.timeoutMs ?? defaultWebhookTimeoutMs;
  const origin = new URL(config.url).origin;
  const call = (ctx: RotationContext, step: RotationStep, pending?: Buffer) =>
    callHook({ config, clock, timeoutMs, origin }, ctx, step, pending);

  return {
    async createValue(ctx) {
      return parseCreateAnswer(await call(ctx, 'create'), origin);
    },
    async setValue(ctx, pending) {
      await call(ctx, 'set', pending);
    },
    async testValue(ctx, pending) {
      await call(ctx, 'test', pending);
    },
    async finish(ctx, pending) {
      await call(ctx, 'finish', pending);
    },
  };
}

interface HookTarget {
  readonly config: WebhookRotatorConfig;
  readonly clock: Clock;
  readonly timeoutMs: number;
  readonly origin: string;
}

/** The JSON body of one step (values as UTF-8 strings, or base64 when not valid UTF-8). */
async function stepBody(ctx: RotationContext, step: RotationStep, pending?: Buffer): Promise<string> {
  const body: Record<string, unknown> = {
    step,
    secret: ctx.secretName,
    rotationId: ctx.rotationId,
    pendingVersion: ctx.pendingVersion,
    currentVersion: ctx.currentVersion ?? null,
  };
  if (pending !== undefined && step !== 'create') putValue(body, 'pendingValue', pending);
  if (step === 'create' || step === 'set') {
    const current = await ctx.currentValue();
    if (current !== undefined) putValue(body, 'currentValue', current);
  }
  return JSON.stringify(body);
}

function putValue(body: Record<string, unknown>, field: string, value: Buffer): void {
  if (isUtf8(value)) body[field] = value.toString('utf8');
  else body[`${field}Base64`] = value.toString('base64');
}

/** One signed POST; resolves to the answer's body when the hook answered 2xx within the limits. */
async function callHook(
  target: HookTarget,
  ctx: RotationContext,
  step: RotationStep,
  pending?: Buffer,
): Promise<Buffer> {
  const { config, origin } = target;
  const what = `Rotation webhook ${origin} (step ${step})`;
  const key = await ctx.readReference(config.signingSecret);
  if (key.length === 0) throw new CofferError('target_failed', `${what}: the signing secret is empty.`);
  const body = await stepBody(ctx, step, pending);
  const timestampSeconds = Math.floor(target.clock.nowMs() / 1000);
  const signal = AbortSignal.timeout(target.timeoutMs);
  try {
    const response = await fetch(config.url, {
      method: 'POST',
      body,
      redirect: 'manual',
      signal,
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        'user-agent': 'coffer-rotation',
        'coffer-signature': webhookSignatureHeader(key, body, timestampSeconds),
        'coffer-rotation-id': ctx.rotationId,
        'coffer-rotation-step': step,
        'idempotency-key': `${ctx.rotationId}-${step}`,
      },
    });
    if (response.status < 200 || response.status > 299) {
      await response.body?.cancel().catch(() => undefined);
      const redirect =
        response.status >= 300 && response.status <= 399 ? ' (redirects are not followed)' : '';
      throw new CofferError('target_failed', `${what} answered HTTP ${response.status}${redirect}.`);
    }
    return await readBounded(response, what);
  } catch (err) {
    if (err instanceof CofferError) throw err;
    if (signal.aborted)
      throw new CofferError('target_failed', `${what} did not answer within ${target.timeoutMs} ms.`);
    // Only the error code (ECONNREFUSED, ENOTFOUND, a TLS code): undici messages may echo the URL.
    const cause = (err as { cause?: { code?: unknown } })?.cause?.code;
    const code = typeof cause === 'string' && /^[A-Z0-9_]{1,64}$/.test(cause) ? ` (${cause})` : '';
    throw new CofferError('target_failed', `${what} could not be reached${code}.`);
  }
}

/** Reads the answer, failing once it passes `maxWebhookResponseBytes`. */
async function readBounded(response: Response, what: string): Promise<Buffer> {
  const tooLarge = () =>
    new CofferError('target_failed', `${what} answered with a body over ${maxWebhookResponseBytes} bytes.`);
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > maxWebhookResponseBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  if (!response.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxWebhookResponseBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }
  return Buffer.concat(chunks, size);
}

const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The new value from `create`'s answer: `{"value": "…"}` or `{"valueBase64": "…"}`, non-empty. */
function parseCreateAnswer(raw: Buffer, origin: string): Buffer {
  const bad = (why: string) =>
    new CofferError('target_failed', `Rotation webhook ${origin} (step create) answered ${why}.`);
  let answer: unknown;
  try {
    answer = JSON.parse(raw.toString('utf8'));
  } catch {
    throw bad('with a body that is not JSON');
  }
  if (typeof answer !== 'object' || answer === null || Array.isArray(answer))
    throw bad('with JSON that is not an object');
  const { value, valueBase64 } = answer as { value?: unknown; valueBase64?: unknown };
  if (value !== undefined && valueBase64 !== undefined) throw bad('with both "value" and "valueBase64"');
  if (typeof value === 'string') {
    if (value.length === 0) throw bad('with an empty "value"');
    return Buffer.from(value, 'utf8');
  }
  if (typeof valueBase64 === 'string') {
    if (valueBase64.length === 0 || !base64Pattern.test(valueBase64))
      throw bad('with a "valueBase64" that is not non-empty standard base64');
    return Buffer.from(valueBase64, 'base64');
  }
  throw bad('without a string "value" or "valueBase64"');
}
