/**
 * `node scripts/console-screenshots.ts`: writes docs/console/*.png, the console's main pages on a
 * throwaway server (SQLite in a temp dir) with demo data: the secrets list, a secret with its
 * versions, a key page with seed 000's banner, an IAM policy and the audit events. Needs the built
 * console (npm run build:ui) and Debian's chromium, like the browser tests.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  browserSkipReason,
  launchBrowser,
  openPage,
  signIn,
  startConsoleServer,
} from '../test/support/browser.ts';

const out = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'docs', 'console');

async function main(): Promise<void> {
  const reason = browserSkipReason();
  if (reason) throw new Error(reason);
  mkdirSync(out, { recursive: true });
  const server = await startConsoleServer();
  const browser = await launchBrowser();
  try {
    const ok = async (method: string, path: string, body?: unknown) => {
      const answer = await server.api(method, path, body);
      if (answer.status >= 300)
        throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
      return answer.body;
    };
    const project = (await ok('POST', '/v2/projects', { displayName: 'Shop' })).id as string;
    const region = `/v2/projects/${project}/regions/local`;
    const ring = (
      await ok('POST', `${region}/keyrings`, { displayName: 'payments', description: 'Card data' })
    ).id;
    const key = await ok('POST', `${region}/keyrings/${ring}/keys`, {
      algorithm: 'aes256-gcm96',
      slug: 'orders-key',
      rotationPeriod: `${90 * 86400}s`,
    });
    const keyApi = `${region}/keyrings/${ring}/keys/${key.id}`;
    await ok('POST', `${keyApi}/rotate`, {});
    const sa = (
      await ok('POST', `/v2/projects/${project}/service-accounts`, {
        name: 'checkout-app',
        displayName: 'Checkout service',
      })
    ).email as string;
    await ok('POST', `/v2/projects/${project}/iam-policy:add-binding`, {
      role: 'roles/secretsmanager.reader',
      member: `serviceAccount:${sa}`,
    });
    await ok('POST', `${region}/keyrings/${ring}/iam-policy:add-binding`, {
      role: 'roles/kms.cryptoKeyEncrypterDecrypter',
      member: `serviceAccount:${sa}`,
    });
    const instance = (
      await ok('POST', `${region}/instances`, {
        name: 'checkout',
        kmsKey: {
          regionId: 'local',
          projectId: project,
          serviceAccountEmail: sa,
          keyRingId: ring,
          keyId: key.id,
          keyVersion: 2,
        },
      })
    ).id as string;
    const instanceApi = `${region}/instances/${instance}`;
    const secrets: [string, Record<string, string>][] = [
      ['checkout/db-password', { env: 'prod', team: 'checkout' }],
      ['checkout/stripe-api-key', { env: 'prod', team: 'payments' }],
      ['checkout/session-secret', { env: 'prod', team: 'checkout' }],
      ['search/elastic-password', { env: 'prod', team: 'search' }],
      ['staging/checkout/db-password', { env: 'staging', team: 'checkout' }],
      ['staging/checkout/stripe-api-key', { env: 'staging', team: 'payments' }],
    ];
    for (const [path, labels] of secrets)
      await ok('POST', `${instanceApi}/secrets`, {
        path,
        labels,
        value: `demo-${Math.random().toString(36).slice(2)}`,
      });
    const main = `${instanceApi}/secrets/${encodeURIComponent('checkout/db-password')}`;
    for (let i = 0; i < 2; i++)
      await ok('PUT', `${main}/value`, { value: `demo-${i}-${Math.random().toString(36).slice(2)}` });
    await ok('POST', `${main}/versions/1/disable`, {});
    const ops = await server.createUser('ops');
    await ok('POST', `${main}/iam-policy:add-binding`, {
      role: 'roles/secretsmanager.secretAccessor',
      member: `serviceAccount:${sa}`,
    });
    await ok('POST', `${main}/iam-policy:add-binding`, {
      role: 'roles/secretsmanager.admin',
      member: ops.member,
      condition: { title: 'on-call week', expiresAt: new Date(Date.now() + 7 * 86_400_000).toISOString() },
    });
    await ok('POST', `/v2/projects/${project}/iam-policy:add-binding`, {
      role: 'roles/audit.viewer',
      member: ops.member,
    });

    const { page } = await openPage(browser);
    await page.setViewportSize({ width: 1280, height: 900 });
    await signIn(page, server.url, server.adminEmail);
    const shot = async (name: string) => {
      await page.waitForLoadState('networkidle');
      await page.screenshot({ path: join(out, `${name}.png`), fullPage: true });
      process.stdout.write(`wrote docs/console/${name}.png\n`);
    };
    const ui = (path: string) => `${server.url}/ui${path}`;

    await page.goto(ui(`/projects/${project}/regions/local/instances/${instance}`));
    await page.getByRole('link', { name: 'checkout/db-password', exact: true }).waitFor();
    await shot('secrets-list');

    await page.goto(
      ui(
        `/projects/${project}/regions/local/instances/${instance}/secrets/${encodeURIComponent('checkout/db-password')}`,
      ),
    );
    await page.getByRole('button', { name: 'Reveal version 3' }).click();
    await page.getByTestId('revealed-value').locator('pre').waitFor();
    await shot('secret-detail');

    await page.goto(ui(`/projects/${project}/iam`));
    await page.getByRole('heading', { name: 'IAM policy of the project' }).waitFor();
    await page.getByRole('button', { name: 'Add binding' }).click();
    await page.getByRole('combobox', { name: /^Role/ }).selectOption('roles/secretsmanager.secretAccessor');
    await shot('iam-policy');

    await server.api('POST', `${keyApi}/disable?force=true`, {});
    await page.goto(ui(`/projects/${project}/regions/local/keyrings/${ring}/keys/${key.id}`));
    await page.getByTestId('key-state-banner').waitFor();
    await page.getByRole('heading', { name: 'Versions' }).waitFor();
    await shot('key-disabled');

    await page.goto(ui(`/projects/${project}/audit`));
    await page.getByTestId('audit-events').waitFor();
    await page.getByLabel('Action').fill('secrets.get_value');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page
      .getByRole('button', { name: /^Show details of secrets\.get_value/ })
      .first()
      .click();
    await page.getByRole('button', { name: 'Verify the audit chain' }).click();
    await page.getByTestId('audit-verify').waitFor();
    await shot('audit');
  } finally {
    await browser.close();
    await server.destroy();
  }
}

await main();
