import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CofferApiError, CofferClient } from '../src/sdk/index.ts';
import { startTestNode, type TestNode } from './support/test-node.ts';

describe('The typed client: users’ sessions and the root token', () => {
  let node: TestNode;
  before(async () => {
    node = await startTestNode();
  });
  after(() => node?.destroy());

  test('disable, enable, list and end sessions, rotate the root token', async () => {
    let admin = new CofferClient({ address: node.url, token: node.adminToken });
    const email = 'sdk-user@example.com';
    const password = 'correct horse battery';
    await admin.iam.createUser({ email, password });
    const anonymous = new CofferClient({ address: node.url });
    const first = await anonymous.iam.login({ email, password });
    await anonymous.iam.login({ email, password });
    const sessions = await admin.iam.listUserTokens(email);
    assert.equal(sessions.items.length, 2);
    assert.ok(!JSON.stringify(sessions).includes(first.token));
    await admin.iam.revokeUserToken(email, sessions.items[0]!.id);
    assert.equal((await admin.iam.listUserTokens(email)).items.length, 1);
    assert.deepEqual(await admin.iam.setUserDisabled(email, true), { email, disabled: true });
    assert.equal((await admin.iam.listUserTokens(email)).items.length, 0, 'disabling ends every session');
    await assert.rejects(anonymous.iam.login({ email, password }), (err: unknown) => {
      return err instanceof CofferApiError && err.status === 401;
    });
    await admin.iam.setUserDisabled(email, false);
    await anonymous.iam.login({ email, password });

    const rotated = await admin.iam.rotateRootToken();
    await assert.rejects(
      admin.iam.listRoles(),
      (err: unknown) => err instanceof CofferApiError && err.status === 401,
    );
    admin = new CofferClient({ address: node.url, token: rotated.token });
    assert.ok((await admin.iam.listRoles()).items.length > 0);
  });
});
