/**
 * The budget and the code split that keeps the first page fast, measured on the build
 * `npm ci` makes (dist/ui): the JavaScript the console sends is at most 300 KB gzipped in all; the
 * first page (the files index.html loads and everything they import statically) is React and the
 * app shell only, within its own budget; every page area is a chunk of its own, loaded when first used;
 * and index.html carries no inline script (the CSP forbids it; the browser tests also fail on any
 * CSP violation, which covers what the chunks insert at run time).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { consoleDist } from './support/browser.ts';

/** The budget of issue #17, in bytes (KB = 1,000 bytes, as browsers' tools count). */
const budgetBytes = 300_000;
/**
 * The first page's JavaScript (the entry chunk: React and ReactDOM ≈ 68 KB, the app shell and the
 * components the areas share ≈ 9 KB), gzipped; the single bundle of before the split was 90.9 KB.
 */
const firstPageBudgetBytes = 85_000;
/** The lazily loaded chunks: one per page area (ui/src/routes.tsx), and the KMS playground. */
const lazyAreas = [
  'projects-pages',
  'secrets-pages',
  'kms-pages',
  'iam-pages',
  'audit-pages',
  'CryptoPlayground',
];

const assets = join(consoleDist, 'assets');
const gzipped = (name: string) => gzipSync(readFileSync(join(assets, name)), { level: 9 }).length;

/** The asset names a file imports statically (`import … from "./x.js"`, `import "./x.js"`). */
function staticImports(name: string): string[] {
  const code = readFileSync(join(assets, name), 'utf8');
  return [...code.matchAll(/\bimport\s*(?:[\w$*{}\s,]+from\s*)?["']\.\/([^"']+\.js)["']/g)].map((m) => m[1]!);
}

/** The JavaScript the first page loads: index.html's script and module preloads, and their static imports. */
function firstPageScripts(html: string): Set<string> {
  const pending = [
    ...html.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="\/ui\/assets\/([^"]+\.js)"/g),
  ].map((m) => m[1]!);
  const seen = new Set<string>();
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    if (seen.has(name)) continue;
    seen.add(name);
    pending.push(...staticImports(name).map((imported) => posix.normalize(imported)));
  }
  return seen;
}

test('the console’s JavaScript is at most 300 KB gzipped and index.html has no inline script', () => {
  const index = join(consoleDist, 'index.html');
  assert.ok(existsSync(index), `console not built: no ${index} (run npm run build:ui)`);
  const scripts = readdirSync(assets).filter((name) => name.endsWith('.js'));
  assert.ok(scripts.length > 0, 'no JavaScript in dist/ui/assets');
  const total = scripts.reduce((sum, name) => sum + gzipped(name), 0);
  assert.ok(total <= budgetBytes, `${total} bytes of gzipped JavaScript > ${budgetBytes}`);
  const html = readFileSync(index, 'utf8');
  for (const tag of html.match(/<script\b[^>]*>[\s\S]*?<\/script>/g) ?? []) {
    assert.match(tag, /\bsrc="\/ui\/assets\/[^"]+\.js"/, `a script without src: ${tag}`);
    assert.match(tag, /><\/script>$/, `an inline script body: ${tag}`);
  }
  assert.ok(!/\son[a-z]+=/i.test(html), 'an inline event handler in index.html');
});

test('the first page loads React and the app shell only; each page area is a lazily loaded chunk', () => {
  const html = readFileSync(join(consoleDist, 'index.html'), 'utf8');
  const first = firstPageScripts(html);
  const names = readdirSync(assets);
  for (const area of lazyAreas) {
    const chunk = names.find((name) => name.startsWith(`${area}-`) && name.endsWith('.js'));
    assert.ok(chunk, `no ${area} chunk in dist/ui/assets: the area is not split off`);
    assert.ok(!first.has(chunk), `${chunk} is loaded by the first page`);
    assert.ok(!html.includes(chunk), `${chunk} is named in index.html (preloaded)`);
  }
  // The split is not undone by the shell importing a page area statically.
  for (const name of first)
    assert.doesNotMatch(name, /-pages-|CryptoPlayground/, `${name} on the first page`);
  const firstBytes = [...first].reduce((sum, name) => sum + gzipped(name), 0);
  assert.ok(
    firstBytes <= firstPageBudgetBytes,
    `the first page loads ${firstBytes} bytes of gzipped JavaScript (${[...first].join(', ')}) > ${firstPageBudgetBytes}`,
  );
});
