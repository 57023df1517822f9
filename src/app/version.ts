import { createRequire } from 'node:module';

/** Coffer's version, from package.json (the same relative path holds from src/ and from dist/). */
export const version: string = (createRequire(import.meta.url)('../../package.json') as { version: string })
  .version;
