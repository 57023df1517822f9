import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CofferClient } from '../src/sdk/index.ts';
import { runCoffer } from './support/cli-process.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

/**
 * A service account allowed to read one secret (secretAccessor on it, nothing else) uses the CLI by
 * naming its instance: the server takes the name where the id goes and checks the account's rights
 * on the real resource; an unknown name answers like an unknown id; and when the CLI must list, a
 * refusal names the call and the server's reason.
 */
describe('the CLI with the rights of a one-secret service account', () => {
  let node: TestNode;
  let dir: string;
  let projectId: string;
  let instanceId: string;
  let env: Record<string, string>;

  before(async () => {
    node = await startTestNode();
    dir = mkdtempSync(join(tmpdir(), 'coffer-cli-names-'));
    const admin = new CofferClient({ address: node.url, token: node.adminToken });
    projectId = (await admin.projects.create({ displayName: 'names' })).id;
    const region = { projectId, regionId: 'local' };
    instanceId = (await admin.secrets.createInstance(region, { name: 'payments' })).id;
    await admin.secrets.createInstance(region, { name: 'other' });
    const ref = { ...region, instanceId };
    await admin.secrets.createSecret(ref, { path: 'api/key', value: 'the-one-value' });
    await admin.secrets.createSecret(ref, { path: 'db/password', value: 'not-yours' });
    const email = (await admin.iam.createServiceAccount({ projectId }, { name: 'one-secret' })).email;
    await admin.iam.addBinding(
      { ...ref, secret: 'api/key' },
      { role: 'roles/secretsmanager.secretAccessor', member: `serviceAccount:${email}` },
    );
    const token = (await admin.iam.createToken({ projectId, email }, {})).token;
    env = {
      COFFER_ADDR: node.url,
      COFFER_TOKEN: token,
      COFFER_PROJECT: projectId,
      COFFER_REGION: 'local',
      COFFER_INSTANCE: '',
      COFFER_CONFIG_DIR: join(dir, 'config'),
    };
  });
  after(async () => {
    await node?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('--instance NAME (or COFFER_INSTANCE) reads the one secret without listing anything', async () => {
    const byFlag = await runCoffer(
      ['secrets', 'versions', 'access', '--secret', 'api/key', '--instance', 'payments'],
      env,
    );
    assert.equal(byFlag.code, 0, byFlag.stderr);
    assert.equal(byFlag.stdout, 'the-one-value');
    const run = await runCoffer(
      ['run', '--secret=KEY=api/key', '--', process.execPath, '-e', 'process.stdout.write(process.env.KEY)'],
      { ...env, COFFER_INSTANCE: 'payments' },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'the-one-value');
  });

  test('a secret it may not read is refused with the server’s message naming the permission and the resource as written', async () => {
    const denied = await runCoffer(
      ['secrets', 'versions', 'access', '--secret', 'db/password', '--instance', 'payments'],
      env,
    );
    assert.equal(denied.code, 1);
    assert.equal(
      denied.stderr,
      `coffer: Permission secrets.get_value denied on projects/${projectId}/regions/local/instances/payments/secrets/db%2Fpassword. (permission_denied, HTTP 403)\n`,
    );
    assert.doesNotMatch(
      denied.stderr,
      new RegExp(instanceId),
      'the name is not turned into its id for the caller',
    );
  });

  test('an unknown instance name answers exactly like an unknown id, and a name it may not use like an unknown one', async () => {
    const base = `/v2/projects/${projectId}/regions/local/instances`;
    const token = env.COFFER_TOKEN;
    const shape = async (instance: string) => {
      const res = await call(node.url, 'GET', `${base}/${instance}/secrets/api%2Fkey/value`, { token });
      return [res.status, res.body.error.code, res.body.error.message.replace(instance, '<instance>')];
    };
    const unknownName = await shape('nope');
    assert.deepEqual(unknownName, await shape('4f1e0a52-7c57-4ab4-8a38-1b2f0c7a1d11'));
    assert.deepEqual(unknownName, await shape('other'));
    assert.equal(unknownName[0], 403);
  });

  test('without --instance the CLI must list; the refusal names the call, the server’s reason and --instance', async () => {
    const result = await runCoffer(['secrets', 'versions', 'access', '--secret', 'api/key'], env);
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `coffer: listing the instances (GET /v2/projects/${projectId}/regions/local/instances) was denied: ` +
        `Permission secrets.instances.list denied on projects/${projectId}/regions/local. ` +
        'Name the instance with --instance NAME or COFFER_INSTANCE (no listing is needed then)\n',
    );
  });
});
