/**
 * Child process of the data dir lock tests: locks the data dir given as argument, prints `held`, and
 * keeps the lock until it is killed; a refusal is printed to stderr (exit 1).
 */

import { acquireDataDirLock } from '../../src/storage/data-dir-lock.ts';

const dataDir = process.argv[2];
if (dataDir === undefined) throw new Error('usage: data-dir-lock-holder.ts <dataDir>');
try {
  acquireDataDirLock(dataDir);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
}
process.stdout.write('held\n');
setInterval(() => undefined, 60_000);
