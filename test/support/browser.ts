import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { call, startTestNode, type TestNode } from './test-node.ts';

/** Debian's chromium package (`apt-get install chromium`; .ci/run installs it); never a downloaded browser. */
export const chromiumPath = process.env.COFFER_CHROMIUM ?? '/usr/bin/chromium';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Where `npm run build:ui` (run by `npm ci`'s prepare) writes the console. */
export const consoleDist = join(repoRoot, 'dist', 'ui');

/**
 * Why the browser tests cannot run here, or undefined when they can. With CI=true a missing chromium
 * or a missing console build throws (the tests fail, never skip). A missing build is never rebuilt
 * here: `npm ci` builds it, and two test files building at once would race.
 */
export function browserSkipReason(): string | undefined {
  const reasons: string[] = [];
  if (!existsSync(chromiumPath))
    reasons.push(`no chromium at ${chromiumPath} (apt-get install chromium, or set COFFER_CHROMIUM)`);
  if (!existsSync(join(consoleDist, 'index.html')))
    reasons.push(`console not built: no ${join(consoleDist, 'index.html')} (run npm run build:ui)`);
  if (reasons.length === 0) return undefined;
  const reason = reasons.join('; ');
  if (process.env.CI === 'true') throw new Error(reason);
  // Outside CI a missing build is still a failure worth seeing: only a missing browser skips.
  if (existsSync(chromiumPath)) throw new Error(reason);
  return reason;
}

/** Starts the headless chromium one test file uses (close it in `after`). */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // Root in a container has no user namespace sandbox; the pages are our own, on loopback.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
}

/** A password every console test user gets (≥ 12 characters, as POST /v2/users requires). */
export const testPassword = 'console test password';

/** A Coffer server for console tests: SQLite in a temp dir, a real listener, an owner user. */
export interface ConsoleServer {
  readonly node: TestNode;
  readonly url: string;
  /** The root token (API set-up and checks outside the browser). */
  readonly rootToken: string;
  /** An owner (roles/owner on the root) who signs in with `testPassword`. */
  readonly adminEmail: string;
  /** Creates a user with `testPassword` and no role; returns its email and `user:` member. */
  createUser(name: string): Promise<{ email: string; member: string }>;
  /** An API call with the root token. */
  api(method: string, path: string, body?: unknown): Promise<Awaited<ReturnType<typeof call>>>;
  destroy(): Promise<void>;
}

/** Starts a node (initialized and unsealed: the file seal) and makes an owner who signs in by password. */
export async function startConsoleServer(env: Record<string, string> = {}): Promise<ConsoleServer> {
  const node = await startTestNode({ env });
  const rootToken = node.adminToken;
  if (!rootToken) {
    await node.destroy();
    throw new Error('the test node has no root token');
  }
  const api = (method: string, path: string, body?: unknown) =>
    call(node.url, method, path, { token: rootToken, ...(body !== undefined ? { body } : {}) });
  const createUser = async (name: string) => {
    const email = `${name}@example.com`;
    const made = await api('POST', '/v2/users', { email, password: testPassword });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    return { email, member: `user:${email}` };
  };
  try {
    const admin = await createUser('console-admin');
    const bound = await api('POST', '/v2/iam-policy:add-binding', {
      role: 'roles/owner',
      member: admin.member,
    });
    assert.equal(bound.status, 200, JSON.stringify(bound.body));
    return {
      node,
      url: node.url,
      rootToken,
      adminEmail: admin.email,
      createUser,
      api,
      destroy: () => node.destroy(),
    };
  } catch (err) {
    await node.destroy();
    throw err;
  }
}

/** A fresh browser context and page whose console errors and CSP violations are recorded. */
export async function openPage(browser: Browser): Promise<{
  context: BrowserContext;
  page: Page;
  /** Page errors, console errors and CSP violations seen so far. */
  problems: string[];
}> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  // A console page answers in well under a second; a missing element should fail fast, not in 30 s.
  page.setDefaultTimeout(15_000);
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    // A refused API call logs "Failed to load resource: … 4xx"; the page shows it, that is not a defect.
    if (/Failed to load resource: the server responded with a status of 4\d\d/.test(text)) return;
    problems.push(`console error: ${text}`);
  });
  return { context, page, problems };
}

/** What a console test file starts with: its server, its browser and a page signed in as the owner. */
export interface ConsoleSession {
  readonly server: ConsoleServer;
  readonly browser: Browser;
  readonly page: Page;
  /** Page errors, console errors and CSP violations seen so far on `page`. */
  readonly problems: string[];
}

/**
 * Starts the server and the browser together, opens a page and signs the owner in on it (close the
 * browser and destroy the server in `after`).
 */
export async function startConsoleSession(): Promise<ConsoleSession> {
  const [server, browser] = await Promise.all([startConsoleServer(), launchBrowser()]);
  const { page, problems } = await openPage(browser);
  await signIn(page, server.url, server.adminEmail);
  return { server, browser, page, problems };
}

/** Signs in on the console's sign-in page with email and password; waits for the signed-in layout. */
export async function signIn(
  page: Page,
  baseUrl: string,
  email: string,
  password = testPassword,
): Promise<void> {
  await page.goto(`${baseUrl}/ui/`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

const axeSource = (createRequire(import.meta.url)('axe-core') as { source: string }).source;

/** WCAG 2.2 AA, as the issue asks: every level-A and AA rule up to 2.2. */
export const wcagTags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  helpUrl: string;
  nodes: { target: unknown[]; failureSummary?: string }[];
}

/**
 * Runs axe-core in the page (injected through the DevTools protocol, so the page's strict CSP stays
 * on) with the WCAG 2.2 AA tags; fails with one readable line per violation and element.
 */
export async function axeCheck(page: Page, label = page.url()): Promise<void> {
  const loaded = await page.evaluate('typeof window.axe === "object"');
  if (!loaded) await page.evaluate(axeSource);
  const violations = (await page.evaluate(
    `window.axe.run(document, { runOnly: { type: 'tag', values: ${JSON.stringify(wcagTags)} }, resultTypes: ['violations'] }).then((r) => r.violations)`,
  )) as AxeViolation[];
  if (violations.length === 0) return;
  // One line per rule, with up to five of its elements: a repeated row problem stays readable.
  const lines = violations.map((v) => {
    const targets = v.nodes.slice(0, 5).map((n) => JSON.stringify(n.target));
    const more = v.nodes.length > 5 ? ` and ${v.nodes.length - 5} more` : '';
    const why = v.nodes[0]?.failureSummary?.replace(/\s+/g, ' ').trim();
    return `- [${v.impact ?? 'n/a'}] ${v.id}: ${v.help} (${v.nodes.length} element(s): ${targets.join(', ')}${more})${why ? `\n    ${why}` : ''}`;
  });
  assert.fail(
    `axe-core: ${violations.length} WCAG 2.2 AA rule(s) violated on ${label}:\n${lines.join('\n')}`,
  );
}

/** Both themes: runs `axeCheck` with the console's light then dark theme (`data-theme` on <html>). */
export async function axeCheckThemes(page: Page, label = page.url()): Promise<void> {
  const before = await page.evaluate('document.documentElement.dataset.theme ?? null');
  for (const theme of ['light', 'dark'] as const) {
    await page.evaluate(`document.documentElement.dataset.theme = ${JSON.stringify(theme)}`);
    await axeCheck(page, `${label} (${theme})`);
  }
  await page.evaluate(
    before === null
      ? 'delete document.documentElement.dataset.theme'
      : `document.documentElement.dataset.theme = ${JSON.stringify(before)}`,
  );
}
