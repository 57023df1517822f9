#!/usr/bin/env node
// Entry point of the `coffer` command: runs the compiled CLI from dist/ when installed as a package,
// or the TypeScript sources directly (Node's type stripping) in a checkout.
import { existsSync } from 'node:fs';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `coffer: Node.js 24 or later is required (this is ${process.version}). In a checkout, use "npm start" or put node_modules/.bin first on PATH.\n`,
  );
  process.exit(1);
}
const compiled = new URL('../dist/cli/main.js', import.meta.url);
const source = new URL('../src/cli/main.ts', import.meta.url);
// Node does not strip types under node_modules, so an installed copy always runs dist/.
const inNodeModules = import.meta.url.includes('/node_modules/');
const entry = !inNodeModules && existsSync(source) ? source : compiled;
// `coffer server`: V8's young generation is held at its initial size before the server's modules
// load (loading them would grow it to its maximum); the server caps it once started
// (src/core/heap-tuning.ts). Global options may precede the command; another command given an
// argument named "server" just runs with a smaller young generation.
if (process.argv.slice(2).includes('server')) {
  const tuning = entry === source ? '../src/core/heap-tuning.ts' : '../dist/core/heap-tuning.js';
  const { holdYoungGeneration } = await import(new URL(tuning, import.meta.url).href);
  holdYoungGeneration();
}
const { main } = await import(entry.href);
await main(process.argv);
