import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isConsolePath, seg } from '../ui/src/url-safety.ts';

// The console's URL rules (issue #17 self-review): a resource name is always one encoded segment and
// can never be a dot segment that the browser's URL parser would fold away (sending a request with
// the user's token to another resource); navigation targets are console paths only (no open redirect).

test('seg encodes every reserved character so a name stays one segment', () => {
  assert.equal(seg('app/db/password'), 'app%2Fdb%2Fpassword');
  assert.equal(seg('a?b#c%d'), 'a%3Fb%23c%25d');
  assert.equal(seg('..x'), '..x');
  assert.equal(seg('%2e%2e'), '%252e%252e');
  const url = new URL(
    `/v2/projects/p/regions/r/instances/i/secrets/${seg('../../../sys/seal')}/value`,
    'http://h',
  );
  assert.equal(url.pathname, '/v2/projects/p/regions/r/instances/i/secrets/..%2F..%2F..%2Fsys%2Fseal/value');
});

test('seg refuses dot segments and the empty segment', () => {
  for (const bad of ['.', '..', ''])
    assert.throws(() => seg(bad), /cannot name a resource/, JSON.stringify(bad));
});

test('isConsolePath accepts the console’s own paths only', () => {
  for (const good of ['/', '/projects', '/projects/p1/regions/r/instances/i/secrets/a%2Fb', '/signin?x=1'])
    assert.ok(isConsolePath(good), good);
  for (const bad of [
    '//evil.example/',
    '/\\evil.example',
    'https://evil.example/',
    'javascript:alert(1)',
    '/javascript:alert(1)',
    'projects',
    '',
    '/a\nb',
    '/a\tb',
    ' /projects',
  ])
    assert.ok(!isConsolePath(bad), JSON.stringify(bad));
});
