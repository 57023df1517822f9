import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { errorCatalogue } from './errors.ts';

test('every error code of the catalogue is documented in docs/errors.md', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  for (const code of Object.keys(errorCatalogue)) assert.match(doc, new RegExp(`\\| \`${code}\` \\|`), code);
});
