/**
 * Child process of the crash test: opens the SQLite storage in the data dir given as argument, prints
 * `ready`, then writes rows from several concurrent loops forever, printing each row's number only
 * after its write was acknowledged. The parent SIGKILLs it and checks every printed number is stored.
 */

import { openStorage } from '../../src/storage/open-storage.ts';
import { stmt } from '../../src/storage/storage-types.ts';

const dataDir = process.argv[2];
if (dataDir === undefined) throw new Error('usage: sqlite-write-loop.ts <dataDir>');
const storage = await openStorage({ dataDir, writeTimeoutMs: 10_000 });
process.stdout.write('ready\n');

let next = 0;
async function loop(): Promise<void> {
  for (;;) {
    const n = next++;
    await storage.write([
      stmt(
        storage.db.insertInto('system').values({ name: `crash-${n}`, value: '{}', update_time: n }),
        'one',
      ),
    ]);
    process.stdout.write(`${n}\n`);
  }
}

// Several loops at once, so kills also land in the middle of group commits.
await Promise.all(Array.from({ length: 8 }, loop));
