import { randomBytes } from 'node:crypto';
import { chmod, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const tempMarker = '.coffer-tmp-';

/** The prefix of the temporary files written next to `destination` (hidden, never its name). */
function tempPrefix(destination: string): string {
  return `.${basename(destination)}${tempMarker}`;
}

/**
 * Writes `content` to `destination` so that a reader only ever sees the old file or the whole new
 * one: a temporary file in the same directory (created exclusively, with `mode`), written and
 * fsynced, then renamed over the destination, then the directory fsynced so the rename survives a
 * crash. A process killed half-way leaves at most a hidden temporary file (`cleanTempFiles` removes it).
 */
export async function writeFileAtomic(destination: string, content: Uint8Array, mode: number): Promise<void> {
  const dir = dirname(destination);
  const temp = join(dir, `${tempPrefix(destination)}${randomBytes(6).toString('hex')}`);
  const handle = await open(temp, 'wx', mode);
  try {
    try {
      await handle.writeFile(content);
      // The umask may have narrowed the mode given to open; the file gets exactly what was asked.
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, destination);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}

/** The file's current bytes and mode, or undefined when there is none. */
export async function readExisting(path: string): Promise<{ content: Buffer; mode: number } | undefined> {
  try {
    const [content, info] = await Promise.all([readFile(path), stat(path)]);
    return { content, mode: info.mode & 0o777 };
  } catch {
    return undefined;
  }
}

/** Sets the mode of an existing file (the content was already right). */
export async function setMode(path: string, mode: number): Promise<void> {
  await chmod(path, mode);
}

/** Removes temporary files a killed earlier run left next to `destination`. */
export async function cleanTempFiles(destination: string): Promise<void> {
  const prefix = tempPrefix(destination);
  let names: string[];
  try {
    names = await readdir(dirname(destination));
  } catch {
    return;
  }
  await Promise.all(
    names
      .filter((name) => name.startsWith(prefix))
      .map((name) => rm(join(dirname(destination), name), { force: true })),
  );
}
