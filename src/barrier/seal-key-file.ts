import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fstatSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { sealKeyBytes } from './seal-record.ts';

const header = 'coffer-seal-key-v1:';

/** A key file that cannot be used; the message says what to do and never shows key bytes. */
export class SealKeyFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SealKeyFileError';
  }
}

/** Reads the unseal key from `path`; undefined when the file does not exist. Refuses loose modes. */
export function readSealKeyFile(path: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SealKeyFileError(`cannot read seal key file ${path} (${(err as NodeJS.ErrnoException).code})`);
  }
  try {
    if ((fstatSync(fd).mode & 0o077) !== 0) {
      throw new SealKeyFileError(`seal key file ${path} is readable by others: chmod 600 it`);
    }
    const text = readFileSync(fd, 'utf8').trim();
    const key = text.startsWith(header) ? Buffer.from(text.slice(header.length), 'base64') : undefined;
    if (!key || key.length !== sealKeyBytes || key.toString('base64') !== text.slice(header.length)) {
      throw new SealKeyFileError(
        `seal key file ${path} is corrupted (expected ${header}<base64 of 32 bytes>)`,
      );
    }
    return key;
  } finally {
    closeSync(fd);
  }
}

/** Creates a new key file with mode 0600 and returns the key; never overwrites an existing file. */
export function createSealKeyFile(path: string): Buffer {
  const key = randomBytes(sealKeyBytes);
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    throw new SealKeyFileError(
      `cannot create seal key file ${path} (${(err as NodeJS.ErrnoException).code})`,
    );
  }
  try {
    writeSync(fd, `${header}${key.toString('base64')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return key;
}

/**
 * Creates a small secret file (mode 0600), fsynced before returning. Never replaces an existing file
 * (fails with EEXIST): a token file may be the only copy of another store's first admin token.
 */
export function writeSecretFile(path: string, content: string): void {
  const fd = openSync(path, 'wx', 0o600);
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
