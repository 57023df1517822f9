// `npm ci` / `npm install` in a checkout (and `npm pack`) run this: it builds dist/, so the SDK
// (`import … from 'coffer'`) works right after install, and the web console into dist/ui, so
// `npm start` serves it at /ui/. An install without devDependencies (`npm ci --omit=dev`) has no
// TypeScript or Vite and nothing to build with: it skips, says so, and succeeds.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
function has(name) {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}
function run(script) {
  const result = spawnSync('npm', ['run', script], { stdio: 'inherit', shell: process.platform === 'win32' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

if (!has('typescript')) {
  process.stderr.write('coffer: no TypeScript (devDependencies omitted), dist/ not built\n');
  process.exit(0);
}
run('build');
if (!has('vite')) {
  process.stderr.write('coffer: no Vite (devDependencies omitted), the web console (dist/ui) not built\n');
  process.exit(0);
}
run('build:ui');
