import { startCoffer } from '../lib/coffer-server.ts';
import type { Target } from '../lib/measure.ts';
import type { RequestSpec } from '../lib/wrk.ts';
import { profileKms } from './kms-profile.ts';
import { baselineLike, checkOnce, createBenchKey, kmsRequests } from './kms-setup.ts';
import type { PreparedScenario, Scenario } from './scenario.ts';

/** HTTP encrypt and decrypt of 256 bytes with an aes256-gcm96 key, against the bare node:http server. */
export const kmsScenario: Scenario = {
  name: 'kms',
  description: 'KMS encrypt and decrypt of 256 bytes with an aes256-gcm96 key (SQLite, audit on)',
  inDefaultRun: true,
  defaultConnections: [1, 16, 64],
  targetRatio: 0.25,
  async prepare(ctx): Promise<PreparedScenario> {
    const server = await startCoffer({
      repoDir: ctx.repoDir,
      workDir: ctx.workDir,
      serverCpu: ctx.serverCpu,
    });
    try {
      const key = await createBenchKey(server);
      const requests = kmsRequests(server, key);
      await checkOnce(server.baseUrl, requests.encrypt, 'ciphertext');
      await checkOnce(server.baseUrl, requests.decrypt, 'plaintext');
      const target = (name: string, request: RequestSpec): Target => ({
        name,
        baseUrl: server.baseUrl,
        pid: server.process.pid,
        request,
      });
      return {
        baselineRequest: baselineLike(requests.encrypt),
        candidates: [target('encrypt', requests.encrypt), target('decrypt', requests.decrypt)],
        close: () => server.stop(),
      };
    } catch (err) {
      await server.stop();
      throw err;
    }
  },
  profile: (ctx) => profileKms(ctx),
};
