import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The `Coffer-Signature` header of a rotation webhook call (Stripe's scheme):
 * `t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>.<raw body>")>`. The timestamp is signed with the
 * body, so a captured call cannot be replayed outside the receiver's tolerance. Shared by the
 * rotator (signs) and the SDK (exports `verifyWebhookSignature` for hook authors).
 */

/** The signature header's value for `rawBody` signed with `key` at `timestampSeconds`. */
export function webhookSignatureHeader(
  key: Buffer | string,
  rawBody: Buffer | string,
  timestampSeconds: number,
): string {
  return `t=${timestampSeconds},v1=${webhookSignatureHex(key, rawBody, timestampSeconds)}`;
}

function webhookSignatureHex(
  key: Buffer | string,
  rawBody: Buffer | string,
  timestampSeconds: number,
): string {
  return createHmac('sha256', key).update(`${timestampSeconds}.`).update(rawBody).digest('hex');
}

/**
 * True when `header` (the `Coffer-Signature` value) holds a `v1` signature of `rawBody` (the exact
 * bytes received, before any JSON parsing) under `key` (the signing secret's value), and its
 * timestamp is within `toleranceSeconds` of `nowMs`. Compares in constant time; several `v1`
 * entries are allowed (any one may match). A hook must answer non-2xx when this is false.
 */
export function verifyWebhookSignature(
  header: string | null | undefined,
  rawBody: Buffer | string,
  key: Buffer | string,
  toleranceSeconds = 300,
  nowMs: number = Date.now(),
): boolean {
  if (typeof header !== 'string' || header.length > 4096) return false;
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (name === 't' && /^\d{1,15}$/.test(value)) timestamp = Number(value);
    else if (name === 'v1' && /^[0-9a-f]{64}$/i.test(value)) signatures.push(Buffer.from(value, 'hex'));
  }
  if (timestamp === undefined || signatures.length === 0) return false;
  if (Math.abs(nowMs / 1000 - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(webhookSignatureHex(key, rawBody, timestamp), 'hex');
  let match = false;
  // Every candidate is compared (no early exit), each in constant time.
  for (const signature of signatures) if (timingSafeEqual(signature, expected)) match = true;
  return match;
}
