// `npm ci` / `npm install` in a checkout (and `npm pack`) run this: it builds dist/, so the SDK
// (`import … from 'coffer'`) works right after install. An install without devDependencies
// (`npm ci --omit=dev`) has no TypeScript and nothing to build with: it skips, says so, and succeeds.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

try {
  createRequire(import.meta.url).resolve('typescript');
} catch {
  process.stderr.write('coffer: no TypeScript (devDependencies omitted), dist/ not built\n');
  process.exit(0);
}
const build = spawnSync('npm', ['run', 'build'], { stdio: 'inherit', shell: process.platform === 'win32' });
process.exit(build.status ?? 1);
