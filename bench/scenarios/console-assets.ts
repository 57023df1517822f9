/**
 * The console scenario's views of the build (dist/ui) and of one cold load's phases: what the
 * browser is sent, and where the time to the first page goes on the page's own clock.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Page } from 'playwright-core';

const gzipped = (file: string) => gzipSync(readFileSync(file), { level: 9 }).length;

/** All the console's JavaScript, gzipped (the issue's ≤ 300 KB). */
export function gzippedJs(repoDir: string): number {
  const assets = join(repoDir, 'dist', 'ui', 'assets');
  return readdirSync(assets)
    .filter((name) => name.endsWith('.js'))
    .reduce((sum, name) => sum + gzipped(join(assets, name)), 0);
}

/** The JavaScript of the first page: index.html's entry and module preloads and their static imports. */
export function firstPageJs(repoDir: string): { files: string[]; bytes: number; gzBytes: number } {
  const dir = join(repoDir, 'dist', 'ui');
  const html = readFileSync(join(dir, 'index.html'), 'utf8');
  const pending = [
    ...html.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="\/ui\/(assets\/[^"]+\.js)"/g),
  ].map((m) => m[1]!);
  const seen = new Set<string>();
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    if (seen.has(name)) continue;
    seen.add(name);
    const code = readFileSync(join(dir, name), 'utf8');
    for (const m of code.matchAll(/\bimport\s*(?:[\w$*{}\s,]+from\s*)?["'](\.\/[^"']+\.js)["']/g))
      pending.push(posix.join(posix.dirname(name), m[1]!));
  }
  const files = [...seen];
  return {
    files: files.map((name) => posix.basename(name)),
    bytes: files.reduce((sum, name) => sum + readFileSync(join(dir, name)).length, 0),
    gzBytes: files.reduce((sum, name) => sum + gzipped(join(dir, name)), 0),
  };
}

/** A cold load's phases in ms since navigation start, on the page's clock. */
export interface LoadPhases {
  /** The HTML received. */
  readonly html: number;
  /** The last script the page had asked for before `until` received. */
  readonly js: number;
  /** DOMContentLoaded: the module scripts parsed, compiled and run (React's first render not yet). */
  readonly modules: number;
}

/** The phases of the page's load up to `until` (its clock), from Navigation and Resource Timing. */
export async function loadPhases(page: Page, until: number): Promise<LoadPhases> {
  // The DOM's timing entries as far as this needs them (bench/ is type-checked without the DOM library).
  interface Entry {
    readonly name: string;
    readonly startTime: number;
    readonly responseEnd: number;
    readonly domContentLoadedEventStart?: number;
  }
  return page.evaluate((end: number) => {
    const perf = (globalThis as unknown as { performance: { getEntriesByType(type: string): Entry[] } })
      .performance;
    const nav = perf.getEntriesByType('navigation')[0]!;
    const scripts = perf
      .getEntriesByType('resource')
      .filter((r) => r.name.endsWith('.js') && r.startTime < end)
      .map((r) => r.responseEnd);
    return {
      html: nav.responseEnd,
      js: Math.max(0, ...scripts),
      modules: nav.domContentLoadedEventStart ?? 0,
    };
  }, until);
}
