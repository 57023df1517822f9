import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type ServerProcess, startServerProcess } from './support/cli-process.ts';
import { startRotationHook } from './support/rotation-hook.ts';
import { call } from './support/test-node.ts';

/**
 * Issue 15's fault "SIGKILL of Coffer between each pair of steps": a real `coffer server` process
 * rotates a secret through a real webhook that holds step X (set, test, finish) unanswered; the
 * process is killed with SIGKILL while it waits, restarted on the same data dir, and the rotation
 * resumed. It must resume at X with the pending value the hook made at create: one new version, no
 * second create, `current` moved once.
 */
test(
  'a rotation killed (SIGKILL) while the webhook holds set, test or finish resumes there after a restart: one new version, the same pending value, current moved once',
  { timeout: 180_000 },
  async () => {
    const signingKey = 'whsec-crash-test-0123456789abcdef';
    const hook = await startRotationHook(signingKey);
    const dataDir = mkdtempSync(join(tmpdir(), 'coffer-rotation-crash-'));
    // No background tick unless a step asks for one: the resumption path is chosen per step.
    const env = {
      COFFER_DATA_DIR: dataDir,
      COFFER_LOG_LEVEL: 'info',
      COFFER_BACKGROUND_INTERVAL_MS: '3600000',
    };
    let server: ServerProcess | undefined;
    const logs: string[] = [];
    try {
      server = await startServerProcess(env);
      const token = readFileSync(join(dataDir, 'root-token'), 'utf8').trim();
      const api = async (method: string, path: string, body?: unknown) =>
        call(server!.url, method, path, { token, ...(body !== undefined ? { body } : {}) });

      const project = (await api('POST', '/v2/projects', {})).body.id as string;
      const region = `/v2/projects/${project}/regions/local`;
      const instance = (await api('POST', `${region}/instances`, { name: 'main' })).body.id as string;
      const secrets = `${region}/instances/${instance}/secrets`;
      assert.equal((await api('POST', secrets, { path: 'hook-key', value: signingKey })).status, 201);
      const created = await api('POST', secrets, {
        path: 'app',
        value: 'initial-value',
        rotation: {
          rotator: { type: 'webhook', url: hook.url, signingSecret: 'hook-key', timeoutMs: 30000 },
        },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const secret = `${secrets}/app`;

      /** Versions and where the stages point. */
      const versions = async () => {
        const listed = await api('GET', `${secret}/versions`);
        assert.equal(listed.status, 200, JSON.stringify(listed.body));
        return listed.body.items as Array<{ version: number; stages: string[] }>;
      };
      const stageOf = (list: Array<{ version: number; stages: string[] }>, stage: string) =>
        list.filter((v) => v.stages.includes(stage)).map((v) => v.version);
      let rotations = 0;

      for (const step of ['set', 'test', 'finish'] as const) {
        const before = await versions();
        const [oldCurrent] = stageOf(before, 'current');
        const firstCall = hook.calls.length;
        const firstCreated = hook.created.length;

        const held = hook.block(step);
        const rotating = api('POST', `${secret}/rotate`).catch((err: unknown) => err);
        await held;
        logs.push(server.output());
        server.child.kill('SIGKILL');
        assert.equal(await server.exited, 'SIGKILL');
        const interrupted = await rotating;
        assert.ok(interrupted instanceof Error, `the rotate request died with the server (step ${step})`);

        hook.release();
        if (step === 'finish') {
          // Resumed by the background job of the restarted server (the rotation it left in progress).
          server = await startServerProcess({ ...env, COFFER_BACKGROUND_INTERVAL_MS: '100' });
          let status: { state?: string; lastSuccessTime?: string | null } | null = null;
          for (const deadline = Date.now() + 30_000; Date.now() < deadline && status?.state !== 'idle';) {
            await new Promise((resolve) => setTimeout(resolve, 50));
            status = (await api('GET', secret)).body.rotationStatus;
          }
          assert.equal(status?.state, 'idle', `${step}: the background job finished the rotation`);
        } else {
          // Resumed by the next POST …/rotate, from the step reached.
          server = await startServerProcess(env);
          const resumed = await api('POST', `${secret}/rotate`);
          assert.equal(resumed.status, 200, `${step}: ${JSON.stringify(resumed.body)}`);
          assert.equal(resumed.body.rotationStatus?.state, 'idle', step);
        }
        rotations++;

        // The hook: one create, then the steps from X again, every one with the value made at create.
        const calls = hook.calls.slice(firstCall);
        assert.equal(hook.created.length, firstCreated + 1, `${step}: exactly one create`);
        const pendingValue = hook.created.at(-1)!;
        const order = ['create', 'set', 'test', 'finish'];
        const expected = [...order.slice(0, order.indexOf(step) + 1), ...order.slice(order.indexOf(step))];
        assert.deepEqual(
          calls.map((c) => c.step),
          expected,
          `${step}: resumed at the step it reached`,
        );
        const rotationIds = new Set(calls.map((c) => c.body?.rotationId));
        assert.equal(rotationIds.size, 1, `${step}: one rotation, resumed`);
        for (const c of calls) {
          assert.equal(c.signatureValid, true);
          if (c.step !== 'create') assert.equal(c.body?.pendingValue, pendingValue, `${step}: ${c.step}`);
        }

        // Storage: one new version holding the hook's value; current moved to it once, previous kept.
        const after = await versions();
        assert.equal(after.length, before.length + 1, `${step}: exactly one new version`);
        const newest = Math.max(...after.map((v) => v.version));
        assert.deepEqual(stageOf(after, 'current'), [newest], step);
        assert.deepEqual(stageOf(after, 'previous'), [oldCurrent], step);
        assert.deepEqual(stageOf(after, 'pending'), [], step);
        const value = await api('GET', `${secret}/value`);
        assert.equal(value.body.value, pendingValue, step);

        // One finish per rotation in the audit trail: current moved once each time.
        const audit = await api(
          'GET',
          `/v2/projects/${project}/audit-events?action=secrets.secrets.rotate&pageSize=500`,
        );
        assert.equal(audit.status, 200, JSON.stringify(audit.body));
        const events = audit.body.items as Array<{
          result: string;
          details?: { step?: string; result?: string };
        }>;
        const finished = events.filter((e) => e.details?.step === 'finish' && e.details?.result === 'ok');
        assert.equal(finished.length, rotations, `${step}: current moved once per rotation`);
      }
      // No value or key in what the servers wrote (logs): only the hook's origin may appear.
      logs.push(server.output());
      assert.ok(logs.join('').includes('rotat'), 'the servers logged the rotations');
      for (const leak of [signingKey, 'initial-value', 'q-secret-token', ...hook.created])
        assert.ok(!logs.join('\n').includes(leak), `the server output holds ${leak}`);
    } finally {
      if (server && server.child.exitCode === null && server.child.signalCode === null) {
        server.child.kill('SIGTERM');
        await server.exited;
      }
      await hook.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
);
