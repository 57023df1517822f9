import { readFile, stat } from 'node:fs/promises';

/**
 * A token provider for `auth.tokenFile`: the file is read again whenever it changes (size or mtime),
 * so whatever writes it (a Kubernetes projected volume, a script) can renew the token without a
 * restart. The token is never logged; errors name only the file.
 */
export function tokenFileProvider(path: string): () => Promise<string> {
  let cached: { stamp: string; token: string } | undefined;
  return async () => {
    let stamp: string;
    try {
      const info = await stat(path);
      stamp = `${info.size}:${info.mtimeMs}`;
      if (cached?.stamp === stamp) return cached.token;
      const token = (await readFile(path, 'utf8')).trim();
      if (token === '') throw Object.assign(new Error('empty'), { code: 'empty' });
      cached = { stamp, token };
      return token;
    } catch (err) {
      throw new Error(
        `cannot read auth.tokenFile ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        { cause: err },
      );
    }
  };
}
