/**
 * The console's KMS, IAM and audit pages in a real chromium against a real server on SQLite: an
 * owner creates a key ring and key, uses the crypto playground (nothing kept in the URL, history or
 * storage), disables the key only after seeing its dependents and typing its slug (force last),
 * makes an IAM binding round trip (and a concurrent change is never overwritten), tests their
 * permissions, filters audit events and signs out. axe-core checks every page in both themes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import {
  axeCheckThemes,
  browserSkipReason,
  type ConsoleServer,
  startConsoleSession,
} from './support/browser.ts';

const skip = browserSkipReason();

describe('console: KMS, IAM and audit pages', { skip }, () => {
  let server: ConsoleServer;
  let browser: Browser;
  let page: Page;
  let problems: string[];
  let projectId: string;
  let keyPath: string;
  const plaintext = 'playground plaintext 7f3a';

  const ui = (path: string) => `${server.url}/ui${path}`;

  before(async () => {
    ({ server, browser, page, problems } = await startConsoleSession());
    const project = await server.api('POST', '/v2/projects', { displayName: 'Console KMS' });
    assert.equal(project.status, 201, JSON.stringify(project.body));
    projectId = project.body.id;
  });
  after(async () => {
    await browser?.close();
    await server?.destroy();
  });

  test('creates a key ring and a key (purpose, algorithm, slug) from the KMS page', async () => {
    await page.goto(ui(`/projects/${projectId}/kms`));
    await page.getByText('No key rings in this region yet.').waitFor();
    await axeCheckThemes(page, 'KMS page (empty)');
    await page.getByRole('button', { name: 'Create key ring' }).click();
    await page.getByLabel('Display name').fill('payments');
    await page.getByRole('button', { name: 'Create key ring' }).last().click();
    await page.getByRole('heading', { name: 'Key ring payments' }).waitFor();
    await page.getByText('No keys in this key ring yet.').waitFor();
    await axeCheckThemes(page, 'key ring page');

    await page.getByRole('button', { name: 'Create key', exact: true }).click();
    await page.getByLabel('Purpose').selectOption('encrypt_decrypt');
    await page.getByLabel('Algorithm').selectOption('aes256-gcm96');
    await page.getByLabel(/^Slug/).fill('orders-key');
    await page.getByRole('button', { name: 'Create key', exact: true }).last().click();
    await page.getByRole('heading', { name: 'Key orders-key' }).waitFor();
    keyPath = new URL(page.url()).pathname.replace(/^\/ui/, '');
    assert.match(keyPath, /^\/projects\/[^/]+\/regions\/[^/]+\/keyrings\/[^/]+\/keys\/[^/]+$/);
    await page.getByRole('heading', { name: 'Versions' }).waitFor();
    await axeCheckThemes(page, 'key page (active)');
  });

  test('the playground encrypts and decrypts without putting the plaintext in the URL, history or storage', async () => {
    const url = page.url();
    const historyLength = await page.evaluate('history.length');
    await page.getByLabel('Plaintext (text)').fill(plaintext);
    await page.getByRole('button', { name: 'Encrypt', exact: true }).last().click();
    const ciphertext = await page.getByTestId('playground-result').inputValue();
    assert.match(ciphertext, /^[A-Za-z0-9+/]+=*$/);
    await page.getByRole('button', { name: 'Decrypt', exact: true }).first().click();
    await page.getByLabel('Ciphertext (base64)').fill(ciphertext);
    await page.getByRole('button', { name: 'Decrypt', exact: true }).last().click();
    await page.getByTestId('playground-result').waitFor();
    assert.equal(await page.getByTestId('playground-result').inputValue(), plaintext);
    assert.equal(page.url(), url);
    assert.equal(await page.evaluate('history.length'), historyLength);
    const stored = (await page.evaluate(
      'JSON.stringify([Object.entries(sessionStorage), Object.entries(localStorage), document.cookie])',
    )) as string;
    assert.ok(!stored.includes(plaintext), 'the plaintext is in the browser storage');
    // Leaving the page forgets it: back on the key page the playground is empty.
    await page.goto(ui(`/projects/${projectId}/kms`));
    await page.goto(ui(keyPath));
    await page.getByLabel('Plaintext (text)').waitFor();
    assert.equal(await page.getByLabel('Plaintext (text)').inputValue(), '');
    const logs = server.node.logLines.join('\n');
    assert.ok(!logs.includes(plaintext) && !logs.includes(Buffer.from(plaintext).toString('base64')));
  });

  test('disabling shows the dependents first, needs the typed slug, and offers force only after it', async () => {
    const keyName = keyPath.slice(1);
    const instance = await server.api('POST', `/v2/projects/${projectId}/regions/local/instances`, {
      name: 'shop',
    });
    assert.equal(instance.status, 201, JSON.stringify(instance.body));
    const secret = await server.api(
      'POST',
      `/v2/projects/${projectId}/regions/local/instances/${instance.body.id}/secrets`,
      { path: 'orders/db', value: 's3cret', kmsKeyIdentity: keyName },
    );
    assert.equal(secret.status, 201, JSON.stringify(secret.body));

    await page.getByRole('button', { name: 'Disable…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Disable key' });
    const dependents = dialog.getByTestId('key-dependents');
    await dependents.waitFor();
    assert.match(await dependents.innerText(), /1 secret\(s\) and 0 instance\(s\) use this key/);
    await dependents.getByRole('link', { name: /secrets\/orders%2Fdb$/ }).waitFor();
    const confirm = dialog.getByRole('button', { name: 'Disable key' });
    const force = dialog.getByLabel(/^Force/);
    assert.equal(await confirm.isDisabled(), true);
    assert.equal(await force.count(), 0, 'force is not offered before the typed confirmation');
    await dialog.getByLabel('Type orders-key to confirm').fill('orders-ke');
    assert.equal(await force.count(), 0);
    assert.equal(await confirm.isDisabled(), true);
    // Enter in the confirmation field cannot submit a half-confirmed dialog.
    await dialog.getByLabel('Type orders-key to confirm').press('Enter');
    await dialog.getByLabel('Type orders-key to confirm').fill('orders-key');
    await force.waitFor();
    assert.equal(await confirm.isDisabled(), true, 'with dependents, force must be ticked');
    await axeCheckThemes(page, 'disable dialog');
    assert.equal((await server.api('GET', `/v2${keyPath}`)).body.state, 'active', 'nothing ran before force');
    await force.check();
    await confirm.click();
    await dialog.waitFor({ state: 'detached' });
    const banner = page.getByTestId('key-state-banner');
    await banner.waitFor();
    assert.match(await banner.innerText(), /disabled/);
    assert.equal((await server.api('GET', `/v2${keyPath}`)).body.state, 'disabled');
    await axeCheckThemes(page, 'key page (disabled, banner)');
    await page.getByRole('button', { name: 'Enable' }).click();
    await page
      .getByRole('dialog', { name: 'Enable key' })
      .getByRole('button', { name: 'Enable key' })
      .click();
    await banner.waitFor({ state: 'detached' });
  });

  test('a dependent bound after the dialog showed none is still refused by the API (the dialog shows why)', async () => {
    const ringApi = `/v2${keyPath.replace(/\/keys\/[^/]+$/, '')}`;
    const spare = await server.api('POST', `${ringApi}/keys`, {
      algorithm: 'aes256-gcm96',
      slug: 'spare-key',
    });
    assert.equal(spare.status, 201, JSON.stringify(spare.body));
    const spareApi = `${ringApi}/keys/${spare.body.id}`;
    await page.goto(ui(spareApi.replace(/^\/v2/, '')));
    await page.getByRole('button', { name: 'Disable…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Disable key' });
    await dialog.getByText('No secret or instance uses this key.').waitFor();
    await dialog.getByLabel('Type spare-key to confirm').fill('spare-key');
    assert.equal(await dialog.getByLabel(/^Force/).count(), 0);
    const instances = (await server.api('GET', `/v2/projects/${projectId}/regions/local/instances`)).body
      .items;
    const bound = await server.api(
      'POST',
      `/v2/projects/${projectId}/regions/local/instances/${instances[0].id}/secrets`,
      { path: 'late/binding', value: 'v', kmsKeyIdentity: spare.body.name },
    );
    assert.equal(bound.status, 201, JSON.stringify(bound.body));
    await dialog.getByRole('button', { name: 'Disable key' }).click();
    const refusal = dialog.getByRole('alert');
    await refusal.waitFor();
    assert.match(await refusal.innerText(), /depend on this key[\s\S]*Request id/);
    assert.equal((await server.api('GET', spareApi)).body.state, 'active');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
  });

  test('the keyboard alone schedules a key deletion through the dialog and cancels it', async () => {
    const focused = () =>
      page.evaluate(
        'document.activeElement?.getAttribute("aria-label") ?? document.activeElement?.labels?.[0]?.textContent ?? document.activeElement?.textContent ?? ""',
      ) as Promise<string>;
    const tabTo = async (want: RegExp) => {
      for (let i = 0; i < 40; i++) {
        if (want.test(await focused())) return;
        await page.keyboard.press('Tab');
      }
      assert.fail(`Tab never reached ${want}; last focus: ${await focused()}`);
    };
    const spareApi = new URL(page.url()).pathname.replace(/^\/ui/, '/v2');
    await page.getByRole('button', { name: 'Schedule deletion…' }).focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Schedule key deletion' });
    await dialog.getByTestId('key-dependents').waitFor();
    await tabTo(/^Type spare-key to confirm/);
    await page.keyboard.type('spare-key');
    await tabTo(/^Force/);
    await page.keyboard.press('Space');
    await tabTo(/^Schedule key deletion$/);
    await page.keyboard.press('Enter');
    await dialog.waitFor({ state: 'detached' });
    assert.equal((await server.api('GET', spareApi)).body.state, 'pending_deletion');
    await page.getByRole('button', { name: 'Cancel deletion' }).focus();
    await page.keyboard.press('Enter');
    await tabTo(/^Cancel deletion$/);
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Enable' }).waitFor();
    assert.equal((await server.api('GET', spareApi)).body.state, 'disabled');
  });

  test('IAM: a binding round trip with the role picker, and a concurrent change is never overwritten', async () => {
    for (const name of ['bob', 'carol', 'dave']) await server.createUser(name);
    await page.goto(ui(`/projects/${projectId}/iam`));
    await page.getByRole('heading', { name: 'IAM policy of the project' }).waitFor();
    await page.getByText('No service accounts yet.').waitFor();
    await axeCheckThemes(page, 'IAM page');
    await page.getByRole('button', { name: 'Add binding' }).click();
    await page.getByRole('combobox', { name: /^Role/ }).selectOption('roles/secretsmanager.viewer');
    await page.getByText('Permissions of roles/secretsmanager.viewer').waitFor();
    assert.ok((await page.locator('details ul').innerText()).includes('secrets.secrets.list'));
    await page.getByLabel('Member').fill('user:bob@example.com');
    await axeCheckThemes(page, 'IAM add-binding form');
    await page.getByRole('button', { name: 'Add binding' }).last().click();
    await page
      .getByRole('button', { name: 'Remove user:bob@example.com from roles/secretsmanager.viewer' })
      .waitFor();
    const policy = (await server.api('GET', `/v2/projects/${projectId}/iam-policy`)).body;
    assert.deepEqual(
      policy.bindings.find((b: { role: string }) => b.role === 'roles/secretsmanager.viewer')?.members,
      ['user:bob@example.com'],
    );

    // Someone else adds a binding after the page read the policy: the page's PUT carries the old etag.
    await page.getByRole('button', { name: 'Add binding' }).click();
    const other = await server.api('POST', `/v2/projects/${projectId}/iam-policy:add-binding`, {
      role: 'roles/kms.viewer',
      member: 'user:carol@example.com',
    });
    assert.equal(other.status, 200, JSON.stringify(other.body));
    await page.getByRole('combobox', { name: /^Role/ }).selectOption('roles/audit.viewer');
    await page.getByLabel('Member').fill('user:dave@example.com');
    await page.getByRole('button', { name: 'Add binding' }).last().click();
    const alert = page.getByRole('alert').filter({ hasText: 'Request id' });
    await alert.waitFor();
    const after409 = (await server.api('GET', `/v2/projects/${projectId}/iam-policy`)).body;
    const roles = after409.bindings.map((b: { role: string }) => b.role);
    assert.ok(roles.includes('roles/kms.viewer'), 'the concurrent change survived');
    assert.ok(!roles.includes('roles/audit.viewer'), 'the stale write was refused');
    await page.getByRole('button', { name: 'Reload the policy' }).click();
    await page.getByRole('button', { name: 'Remove user:carol@example.com from roles/kms.viewer' }).waitFor();

    await page
      .getByRole('button', { name: 'Remove user:bob@example.com from roles/secretsmanager.viewer' })
      .click();
    await page
      .getByRole('button', { name: 'Remove user:bob@example.com from roles/secretsmanager.viewer' })
      .waitFor({ state: 'detached' });
    const final = (await server.api('GET', `/v2/projects/${projectId}/iam-policy`)).body;
    assert.ok(!JSON.stringify(final).includes('bob@example.com'));
  });

  test('IAM: test my permissions, and a service account with a token shown once', async () => {
    // A typed path with dot segments would be folded by the URL parser into another route: refused here.
    const sent: string[] = [];
    const onRequest = (request: { url(): string }) => sent.push(request.url());
    page.on('request', onRequest);
    await page.getByLabel('Resource (API path)').fill(`/v2/projects/${projectId}/%2e%2e/%2E%2E/sys/backup`);
    await page.getByRole('button', { name: 'Test my permissions' }).click();
    await page.getByRole('alert').filter({ hasText: 'Give a resource’s API path' }).waitFor();
    page.off('request', onRequest);
    assert.deepEqual(
      sent.filter((url) => url.includes('test-permissions')),
      [],
    );
    await page.getByLabel('Resource (API path)').fill(`/v2/projects/${projectId}`);
    await page.getByRole('button', { name: 'Test my permissions' }).click();
    const results = page.getByTestId('permission-results');
    await results.waitFor();
    assert.match(
      await page.getByText(/You hold \d+ of \d+ permissions/).innerText(),
      /You hold (\d+) of \1 /,
    );
    await page.getByRole('button', { name: 'Create service account' }).click();
    await page.getByLabel(/^Name/).fill('deployer');
    await page.getByRole('button', { name: 'Create service account' }).last().click();
    await page.getByRole('heading', { name: /^Service account deployer@/ }).waitFor();
    await page.getByText('No tokens.').waitFor();
    await axeCheckThemes(page, 'service account page');
    await page.getByRole('button', { name: 'Create token' }).click();
    const token = await page.getByLabel('New token').inputValue();
    assert.ok(token.length > 20);
    const who = await fetch(`${server.url}/v2/projects/${projectId}/iam:test-permissions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ permissions: ['projects.get'] }),
    });
    assert.equal(who.status, 200, 'the issued token works');
    await page.getByRole('button', { name: 'I have copied it' }).click();
    assert.equal(await page.getByLabel('New token').count(), 0);
    await page.getByRole('button', { name: 'Disable', exact: true }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Disable' }).click();
    await page.getByText('disabled', { exact: true }).first().waitFor();
    const refused = await fetch(`${server.url}/v2/projects/${projectId}/iam:test-permissions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ permissions: ['projects.get'] }),
    });
    assert.equal(refused.status, 401, 'a disabled account’s token is refused');
  });

  test('audit: filters by action, principal and time range, shows an event’s details and the verify result', async () => {
    await page.goto(ui(`/projects/${projectId}/audit`));
    await page.getByTestId('audit-events').waitFor();
    await axeCheckThemes(page, 'audit page');
    await page.getByLabel('Action').fill('kms.encrypt');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByTestId('audit-events').locator('tbody tr').first().waitFor();
    const actions = await page
      .getByTestId('audit-events')
      .locator('tbody tr td:nth-child(2)')
      .allInnerTexts();
    assert.ok(actions.length >= 1);
    assert.deepEqual([...new Set(actions)], ['kms.encrypt']);
    await page
      .getByRole('button', { name: /^Show details of kms\.encrypt/ })
      .first()
      .click();
    const details = page.getByTestId('audit-event-details');
    await details.waitFor();
    assert.match(await details.innerText(), /Request id/);
    assert.ok(!(await details.innerText()).includes(plaintext));
    await axeCheckThemes(page, 'audit event details');

    await page.getByLabel('Principal').fill('user:nobody@example.com');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText('No event matches these filters.').waitFor();
    await page.getByRole('button', { name: 'Clear' }).click();

    // Time range (the browser's local time): the last hour holds this test's events, tomorrow none.
    const local = (ms: number) => {
      const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
      return d.toISOString().slice(0, 16);
    };
    await page.getByLabel('Action').fill('kms.encrypt');
    await page.getByLabel('From (local time)').fill(local(Date.now() - 3_600_000));
    await page.getByLabel('Until (local time)').fill(local(Date.now() + 120_000));
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByTestId('audit-events').locator('tbody tr').first().waitFor();
    await page.getByLabel('From (local time)').fill(local(Date.now() + 86_400_000));
    await page.getByLabel('Until (local time)').fill('');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText('No event matches these filters.').waitFor();
    await page.getByRole('button', { name: 'Clear' }).click();
    await page.getByRole('button', { name: 'Verify the audit chain' }).click();
    const verify = page.getByTestId('audit-verify');
    await verify.waitFor();
    assert.match(await verify.innerText(), /The audit chain is intact/);
  });

  test('at 200 % zoom (half the CSS width) the KMS, IAM and audit pages reflow without a horizontal scroll', async () => {
    await page.setViewportSize({ width: 640, height: 430 });
    try {
      for (const where of [keyPath, `/projects/${projectId}/iam`, `/projects/${projectId}/audit`]) {
        await page.goto(ui(where));
        await page.locator('h1').waitFor();
        await page.waitForLoadState('networkidle');
        const overflow = (await page.evaluate(
          'document.documentElement.scrollWidth - document.documentElement.clientWidth',
        )) as number;
        assert.ok(overflow <= 0, `${where} scrolls sideways by ${overflow} px at 200 %`);
      }
    } finally {
      await page.setViewportSize({ width: 1280, height: 860 });
    }
  });

  test('signing out returns to the sign-in page, forgets the token and ends the session on the server', async () => {
    const token = (await page.evaluate(
      'JSON.parse(sessionStorage.getItem("coffer.session")).token',
    )) as string;
    const projects = () =>
      fetch(`${server.url}/v2/projects`, { headers: { authorization: `Bearer ${token}` } }).then(
        (r) => r.status,
      );
    assert.equal(await projects(), 200);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    // POST /v2/auth/logout is sent before the token is forgotten; the page does not wait for it.
    let status = await projects();
    for (let i = 0; i < 50 && status !== 401; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = await projects();
    }
    assert.equal(status, 401, 'the signed-out session still works on the server');
    const stored = (await page.evaluate(
      'JSON.stringify([Object.entries(sessionStorage), Object.entries(localStorage), document.cookie])',
    )) as string;
    assert.ok(!/coffer\.session/.test(stored), stored);
    await page.goto(ui(keyPath));
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.deepEqual(problems, []);
  });
});
