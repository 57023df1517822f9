import { readFileSync } from 'node:fs';
import { CliError } from './cli-error.ts';

/** Reads all of stdin as bytes. */
export async function readStdin(): Promise<Buffer> {
  if (process.stdin.isTTY) process.stderr.write('Reading from stdin; end with Ctrl-D.\n');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The bytes of `--data-file`: `-` is stdin, anything else a file; exactly as given, never trimmed. */
export async function readDataFile(file: string, flag = '--data-file'): Promise<Buffer> {
  if (file === '-') return readStdin();
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a directory'
            : (code ?? 'error');
    throw new CliError(`cannot read ${flag} ${file}: ${why}`);
  }
}

/** Parses `k=v,k2=v2` (labels, annotations) into a map; a one-line error on a pair without `=`. */
export function parseKeyValues(text: string, flag: string): Record<string, string> {
  const map: Record<string, string> = {};
  if (text.trim() === '') return map;
  for (const pair of text.split(',')) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new CliError(`${flag} takes key=value pairs separated by commas, not "${pair}"`);
    map[pair.slice(0, at).trim()] = pair.slice(at + 1);
  }
  return map;
}

/** Commander collector for repeatable flags. */
export function collectRepeated(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
