/**
 * The console's secrets path in a real chromium against a real server on SQLite: an owner creates a
 * project, an instance bound to a KMS key and a secret, adds a version, reveals it (and finds the
 * audited secrets.get_value on the audit page), then disables the key and sees seed 000's banner on
 * the secret and instance pages. A user holding only roles/secretsmanager.secretAccessor on ONE
 * secret sees no admin action, cannot list or open anything else, and the API refuses what the
 * page hides when the user forces it with the page's own token. axe-core checks every page.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import {
  axeCheckThemes,
  browserSkipReason,
  type ConsoleServer,
  openPage,
  signIn,
  startConsoleSession,
} from './support/browser.ts';

const skip = browserSkipReason();

describe(
  'console: projects, instances, secrets, reveal, seed 000 banners and a value-only user',
  { skip },
  () => {
    let server: ConsoleServer;
    let browser: Browser;
    let page: Page;
    let problems: string[];
    let projectId: string;
    let region: string;
    let keyApi: string;
    let instancePath: string;
    const secretPath = 'app/db';
    const firstValue = 'first-value-91b2';
    const secondValue = 'second-value-4c7d';

    const ui = (path: string) => `${server.url}/ui${path}`;
    const secretPage = (path: string) => `${instancePath}/secrets/${encodeURIComponent(path)}`;

    before(async () => {
      ({ server, browser, page, problems } = await startConsoleSession());
    });
    after(async () => {
      await browser?.close();
      await server?.destroy();
    });

    test('an owner creates a project in the console', async () => {
      await page.getByRole('heading', { name: 'Projects' }).waitFor();
      await axeCheckThemes(page, 'projects page (empty)');
      await page.getByRole('button', { name: 'Create project' }).click();
      await page.getByLabel('Display name').fill('Shop');
      await page.getByRole('button', { name: 'Create', exact: true }).click();
      await page.waitForURL(/\/ui\/projects\/[0-9a-f-]{36}$/);
      projectId = new URL(page.url()).pathname.split('/')[3]!;
      await axeCheckThemes(page, 'project page');
      // The key, and the service account KMS calls of the instance run as (seed 002), by API.
      region = `/v2/projects/${projectId}/regions/local`;
      const ring = (await server.api('POST', `${region}/keyrings`, { displayName: 'shop' })).body.id;
      const key = (await server.api('POST', `${region}/keyrings/${ring}/keys`, { algorithm: 'aes256-gcm96' }))
        .body;
      keyApi = `${region}/keyrings/${ring}/keys/${key.id}`;
      const sa = (
        await server.api('POST', `/v2/projects/${projectId}/service-accounts`, { name: 'shop-kms' })
      ).body.email;
      for (const [resource, role] of [
        [`/v2/projects/${projectId}`, 'roles/secretsmanager.reader'],
        [`${region}/keyrings/${ring}`, 'roles/kms.cryptoKeyEncrypterDecrypter'],
      ]) {
        const bound = await server.api('POST', `${resource}/iam-policy:add-binding`, {
          role,
          member: `serviceAccount:${sa}`,
        });
        assert.equal(bound.status, 200, JSON.stringify(bound.body));
      }
      await page.goto(ui(`/projects/${projectId}/regions/local`));
      await page.getByRole('button', { name: 'Create instance' }).click();
      await page.getByLabel('Name', { exact: true }).fill('checkout');
      await page.getByLabel(/^Encrypt its secrets with a KMS key/).check();
      await page.getByLabel('Key ring id').fill(ring);
      await page.getByLabel('Key id').fill(key.id);
      await page.getByLabel('Key version').fill('1');
      await page.getByLabel(/^Service account email/).fill(sa);
      await axeCheckThemes(page, 'create instance form');
      await page.getByRole('button', { name: 'Create', exact: true }).click();
      await page.waitForURL(/\/instances\/[0-9a-f-]{36}$/);
      instancePath = new URL(page.url()).pathname.replace(/^\/ui/, '');
    });

    test('creates a secret, adds a version and reveals it; the reveal is on the audit page', async () => {
      await page.getByText('This instance holds no secret yet.').waitFor();
      await axeCheckThemes(page, 'instance page (empty)');
      await page.getByRole('button', { name: 'Create secret' }).click();
      await page.getByLabel('Path', { exact: true }).fill(secretPath);
      await page
        .getByLabel(/^Labels/)
        .last()
        .fill('env=prod');
      await page.getByLabel(/^First value/).fill(firstValue);
      await page.getByRole('button', { name: 'Create', exact: true }).click();
      await page.waitForURL(/\/secrets\/app%2Fdb$/);
      await page.getByRole('heading', { name: 'Versions' }).waitFor();
      await page.getByLabel('New value').fill(secondValue);
      await page.getByRole('button', { name: 'Add version' }).click();
      await page.getByText('Version 2 added.').waitFor();
      await page.getByRole('button', { name: 'Reveal version 2' }).waitFor();
      assert.ok(!(await page.content()).includes(secondValue), 'no value before the click');
      await axeCheckThemes(page, 'secret page');
      await page.getByRole('button', { name: 'Reveal version 2' }).click();
      const shown = page.getByTestId('revealed-value').locator('pre');
      await shown.waitFor();
      assert.equal((await shown.innerText()).trim(), secondValue);
      await axeCheckThemes(page, 'secret page (revealed)');

      await page.goto(ui(`/projects/${projectId}/audit`));
      await page.getByLabel('Action').fill('secrets.get_value');
      await page.getByRole('button', { name: 'Apply filters' }).click();
      const rows = page.getByTestId('audit-events').locator('tbody tr');
      await rows.first().waitFor();
      const text = await page.getByTestId('audit-events').innerText();
      assert.match(text, /secrets\.get_value/);
      assert.match(text, /secrets\/app%2Fdb/);
      assert.match(text, /user:console-admin@example\.com/);
      assert.ok(!text.includes(secondValue));
    });

    test('a disabled key shows seed 000’s banner on the secret and the instance pages', async () => {
      const disabled = await server.api('POST', `${keyApi}/disable?force=true`, {});
      assert.equal(disabled.status, 200, JSON.stringify(disabled.body));
      for (const [where, subject] of [
        [secretPage(secretPath), 'This secret'],
        [instancePath, 'This instance'],
      ] as const) {
        await page.goto(ui(where));
        const banner = page.getByTestId('key-state-banner');
        await banner.waitFor();
        const text = await banner.innerText();
        assert.match(text, new RegExp(`${subject}'s KMS key is disabled`));
        assert.match(text, /value reads and writes fail with 400 until the key is enabled/);
        await banner.getByRole('link').waitFor();
        await axeCheckThemes(page, `${where} (key disabled)`);
      }
      await page.getByTestId('key-state-banner').getByRole('link').click();
      await page.getByRole('heading', { name: /^Key / }).waitFor();
      await page.getByTestId('key-state-banner').waitFor();
      assert.equal((await server.api('POST', `${keyApi}/enable`, {})).status, 200);
    });

    test('a user with only secretAccessor on one secret sees no admin action, and the API refuses the rest', async () => {
      const other = await server.api('POST', `/v2${instancePath}/secrets`, {
        path: 'app/other',
        value: 'not-yours-8e1f',
      });
      assert.equal(other.status, 201, JSON.stringify(other.body));
      const reader = await server.createUser('value-reader');
      const granted = await server.api('POST', `/v2${secretPage(secretPath)}/iam-policy:add-binding`, {
        role: 'roles/secretsmanager.secretAccessor',
        member: reader.member,
      });
      assert.equal(granted.status, 200, JSON.stringify(granted.body));

      const session = await openPage(browser);
      const p = session.page;
      await signIn(p, server.url, reader.email);
      await p.getByText(/You can see no project/).waitFor();
      assert.equal(await p.getByRole('button', { name: 'Create project' }).count(), 0);
      await axeCheckThemes(p, 'projects page (value-only user)');

      await p.goto(ui(secretPage(secretPath)));
      await p.getByRole('heading', { name: `Secret ${secretPath}` }).waitFor();
      await p
        .getByText("You may not read this secret's metadata or versions.")
        .or(p.getByRole('alert'))
        .first()
        .waitFor();
      await axeCheckThemes(p, 'secret page (value-only user)');
      const body = await p.locator('main').innerText();
      for (const admin of [
        'Add version',
        'Disable',
        'Destroy',
        'Enable',
        'Move stage',
        'Add binding',
        'Create secret',
      ])
        assert.equal(
          await p.getByRole('button', { name: admin, exact: true }).count(),
          0,
          `${admin} is shown`,
        );
      assert.ok(!body.includes(firstValue) && !body.includes(secondValue), 'no value without a click');
      // The values-only view reveals the latest value on click (its one permission).
      const revealLatest = p.getByRole('button', { name: 'Reveal latest value' });
      if ((await revealLatest.count()) > 0) {
        await revealLatest.click();
        const shown = p.getByTestId('revealed-value').locator('pre');
        await shown.waitFor();
        assert.equal((await shown.innerText()).trim(), secondValue);
        await axeCheckThemes(p, 'secret page (value-only user, revealed)');
      }

      await p.goto(ui(instancePath));
      await p
        .getByText("You may not read this instance's settings.")
        .or(p.getByRole('alert'))
        .first()
        .waitFor();
      const listing = await p.locator('main').innerText();
      assert.ok(!listing.includes('app/other'), 'another secret’s name is shown');
      assert.equal(await p.getByRole('button', { name: 'Create secret' }).count(), 0);
      await axeCheckThemes(p, 'instance page (value-only user)');

      // The KMS, IAM and audit pages: refusals shown, no action offered.
      for (const [where, refusedName] of [
        [`/projects/${projectId}/kms`, 'Create key ring'],
        [`/projects/${projectId}/iam`, 'Add binding'],
        [`/projects/${projectId}/audit`, 'Apply filters'],
      ] as const) {
        await p.goto(ui(where));
        await p.locator('h1').waitFor();
        if (where.endsWith('/iam')) await p.getByText('You may not read this resource').waitFor();
        else await p.getByRole('alert').first().waitFor();
        if (!where.endsWith('/audit'))
          assert.equal(
            await p.getByRole('button', { name: refusedName }).count(),
            0,
            `${where}: ${refusedName}`,
          );
        assert.equal(await p.getByRole('button', { name: 'Create service account' }).count(), 0);
        assert.equal(await p.getByTestId('audit-events').count(), 0);
        await axeCheckThemes(p, `${where} (value-only user)`);
      }

      await p.goto(ui(secretPage('app/other')));
      await p
        .getByText("You may not read this secret's metadata or versions.")
        .or(p.getByRole('alert'))
        .first()
        .waitFor();
      assert.equal(
        await p.getByRole('button', { name: /^Reveal/ }).count(),
        0,
        'a reveal on a secret not granted',
      );
      assert.ok(!(await p.locator('main').innerText()).includes('not-yours-8e1f'));

      // Forced from the page with its own token: the API refuses everything but the one value.
      const answers = (await p.evaluate(`(async () => {
      const token = JSON.parse(sessionStorage.getItem('coffer.session')).token;
      const call = async (method, path, body) => {
        const r = await fetch(path, { method, headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
        return [method + ' ' + path, r.status, await r.text()];
      };
      const own = ${JSON.stringify(`/v2${secretPage(secretPath)}`)};
      const other = ${JSON.stringify(`/v2${secretPage('app/other')}`)};
      const instance = ${JSON.stringify(`/v2${instancePath}`)};
      return [
        await call('GET', own + '/value'),
        await call('GET', other + '/value'),
        await call('GET', instance + '/secrets'),
        await call('PUT', own + '/value', { value: 'overwritten' }),
        await call('POST', own + '/versions/1/destroy', {}),
        await call('GET', own + '/iam-policy'),
        await call('POST', own + '/iam-policy:add-binding', { role: 'roles/owner', member: ${JSON.stringify(reader.member)} }),
        await call('POST', ${JSON.stringify(`${keyApi}/disable?force=true`)}, {}),
        await call('GET', ${JSON.stringify(`/v2/projects/${projectId}/audit-events`)}),
        await call('POST', ${JSON.stringify(`${region}/keyrings`)}, { displayName: 'mine' }),
        await call('GET', ${JSON.stringify(`${keyApi}/dependents`)}),
        await call('POST', ${JSON.stringify(`${keyApi}/encrypt`)}, { plaintext: 'aGk=' }),
        await call('POST', ${JSON.stringify(`/v2/projects/${projectId}/service-accounts`)}, { name: 'sneaky-account' }),
      ];
    })()`)) as [string, number, string][];
      const [own, ...refused] = answers;
      assert.equal(own![1], 200, own![2]);
      assert.equal(JSON.parse(own![2]).value, secondValue);
      for (const [what, status, text] of refused) {
        assert.ok(status === 403 || status === 404, `${what} answered ${status}: ${text}`);
        assert.ok(!text.includes('not-yours-8e1f'), what);
      }
      assert.equal((await server.api('GET', keyApi)).body.state, 'active');
      assert.equal((await server.api('GET', `/v2${secretPage(secretPath)}/value`)).body.value, secondValue);
      await session.context.close();
      assert.deepEqual([...problems, ...session.problems], []);
    });
  },
);
