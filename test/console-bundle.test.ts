/**
 * The budget: the JavaScript the console sends is at most 300 KB gzipped in all (measured on
 * the build `npm ci` makes, dist/ui), and index.html carries no inline script (the CSP forbids it).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { consoleDist } from './support/browser.ts';

/** The budget of issue #17, in bytes (KB = 1,000 bytes, as browsers' tools count). */
const budgetBytes = 300_000;

test('the console’s JavaScript is at most 300 KB gzipped and index.html has no inline script', () => {
  const index = join(consoleDist, 'index.html');
  assert.ok(existsSync(index), `console not built: no ${index} (run npm run build:ui)`);
  const assets = join(consoleDist, 'assets');
  const scripts = readdirSync(assets).filter((name) => name.endsWith('.js'));
  assert.ok(scripts.length > 0, 'no JavaScript in dist/ui/assets');
  const gzipped = scripts.reduce(
    (sum, name) => sum + gzipSync(readFileSync(join(assets, name)), { level: 9 }).length,
    0,
  );
  assert.ok(gzipped <= budgetBytes, `${gzipped} bytes of gzipped JavaScript > ${budgetBytes}`);
  const html = readFileSync(index, 'utf8');
  for (const tag of html.match(/<script\b[^>]*>[\s\S]*?<\/script>/g) ?? []) {
    assert.match(tag, /\bsrc="\/ui\/assets\/[^"]+\.js"/, `a script without src: ${tag}`);
    assert.match(tag, /><\/script>$/, `an inline script body: ${tag}`);
  }
  assert.ok(!/\son[a-z]+=/i.test(html), 'an inline event handler in index.html');
});
