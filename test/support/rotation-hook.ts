import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhookSignature } from '../../src/core/webhook-signature.ts';

/** One call the test hook received. */
export interface HookCall {
  readonly step: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawBody: Buffer;
  /** The parsed JSON body (undefined when it is not JSON). */
  readonly body: Record<string, unknown> | undefined;
  /** Whether `Coffer-Signature` verified with the hook's key. */
  readonly signatureValid: boolean;
}

/** How the hook answers one call: status and body (a string is sent as is). */
export type HookAnswer = (call: HookCall, res: ServerResponse) => void;

/** A real rotation webhook on 127.0.0.1 that records every call and verifies its signature. */
export interface RotationHook {
  /** `http://127.0.0.1:<port>/hook?token=…` (the query stands for a token that must not leak). */
  readonly url: string;
  readonly origin: string;
  readonly calls: HookCall[];
  /** The values this hook produced at `create`, in order. */
  readonly created: string[];
  /** Overrides the answer for one step (undefined restores the default). */
  answer(step: string, fn: HookAnswer | undefined): void;
  /**
   * Holds the next call of `step` without answering; resolves when one arrives. `release()` lets
   * held and later calls be answered normally again.
   */
  block(step: string): Promise<HookCall>;
  release(): void;
  close(): Promise<void>;
}

/**
 * Starts the hook. By default `create` answers `{"value": "<fresh random>"}` and the other steps
 * answer 200 `{}`; a call with a bad signature answers 401.
 */
export async function startRotationHook(key: Buffer | string): Promise<RotationHook> {
  const calls: HookCall[] = [];
  const created: string[] = [];
  const answers = new Map<string, HookAnswer>();
  const held: Array<() => void> = [];
  let blocked: { step: string; arrived: (call: HookCall) => void } | undefined;

  const defaultAnswer: HookAnswer = (call, res) => {
    if (!call.signatureValid) return void res.writeHead(401).end();
    if (call.step === 'create') {
      const value = `hook-${randomBytes(12).toString('hex')}`;
      created.push(value);
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ value }));
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks);
      let body: Record<string, unknown> | undefined;
      try {
        body = JSON.parse(rawBody.toString('utf8')) as Record<string, unknown>;
      } catch {
        body = undefined;
      }
      const signatureValid = verifyWebhookSignature(req.headers['coffer-signature'] as string, rawBody, key);
      const call: HookCall = {
        step: String(body?.step ?? ''),
        headers: req.headers,
        rawBody,
        body,
        signatureValid,
      };
      calls.push(call);
      const respond = () => (answers.get(call.step) ?? defaultAnswer)(call, res);
      if (blocked?.step === call.step) {
        const { arrived } = blocked;
        blocked = undefined;
        held.push(respond);
        arrived(call);
        return;
      }
      respond();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/hook?token=q-secret-token`,
    origin,
    calls,
    created,
    answer: (step, fn) => void (fn ? answers.set(step, fn) : answers.delete(step)),
    block: (step) => new Promise<HookCall>((arrived) => (blocked = { step, arrived })),
    release: () => {
      blocked = undefined;
      for (const respond of held.splice(0)) {
        try {
          respond();
        } catch {
          // The caller is gone (killed): nothing to answer.
        }
      }
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
