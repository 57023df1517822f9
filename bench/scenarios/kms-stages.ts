import { fileURLToPath } from 'node:url';
import { startCoffer } from '../lib/coffer-server.ts';
import type { Target } from '../lib/measure.ts';
import { startBenchServer } from '../lib/node-server.ts';
import type { RequestSpec } from '../lib/wrk.ts';
import { baselineLike, checkOnce, createBenchKey, jsonHeaders, kmsRequests } from './kms-setup.ts';
import type { PreparedScenario, Scenario } from './scenario.ts';

const fastifyScript = fileURLToPath(new URL('../fastify-server.ts', import.meta.url));

/**
 * A ladder of variants, each adding one layer to the one before, so the differences of their CPU
 * µs per request estimate the stages without touching src/: bare node:http (the baseline) → Fastify
 * returning a fixed object → Coffer's public health route (Coffer's Fastify set-up and hooks, one
 * SQLite ping) → GET /v2/regions (+ authentication, authorization, one durable audit event) → GET of
 * the key (+ feature gate, KMS reads of project and key) → encrypt and decrypt (+ body validation,
 * key version read, crypto).
 */
export const kmsStagesScenario: Scenario = {
  name: 'kms-stages',
  description: 'where encrypt/decrypt time goes: a ladder of variants from bare node:http to KMS encrypt',
  inDefaultRun: false,
  defaultConnections: [64],
  async prepare(ctx): Promise<PreparedScenario> {
    const fastify = await startBenchServer(fastifyScript, ctx.serverCpu, ctx.workDir, ctx.repoDir);
    let coffer;
    try {
      coffer = await startCoffer({ repoDir: ctx.repoDir, workDir: ctx.workDir, serverCpu: ctx.serverCpu });
      const key = await createBenchKey(coffer);
      const kms = kmsRequests(coffer, key);
      const headers = jsonHeaders(coffer.token);
      const get = (path: string): RequestSpec => ({ method: 'GET', path, headers });
      const onCoffer = (name: string, request: RequestSpec): Target => ({
        name,
        baseUrl: coffer!.baseUrl,
        pid: coffer!.process.pid,
        request,
      });
      const candidates: Target[] = [
        {
          name: 'fastify fixed',
          baseUrl: fastify.baseUrl,
          pid: fastify.process.pid,
          request: baselineLike(kms.encrypt),
        },
        onCoffer('coffer health', { method: 'GET', path: '/v2/health', headers: {} }),
        onCoffer('coffer regions', get('/v2/regions')),
        onCoffer('coffer key get', get(key.keyPath)),
        onCoffer('encrypt', kms.encrypt),
        onCoffer('decrypt', kms.decrypt),
      ];
      const fields = ['ciphertext', 'status', 'items', 'name', 'ciphertext', 'plaintext'];
      for (const [i, target] of candidates.entries()) {
        await checkOnce(target.baseUrl, target.request, fields[i]!);
      }
      const started = coffer;
      return {
        baselineRequest: baselineLike(kms.encrypt),
        candidates,
        close: async () => {
          await started.stop();
          await fastify.stop();
        },
      };
    } catch (err) {
      await coffer?.stop();
      await fastify.stop();
      throw err;
    }
  },
};
