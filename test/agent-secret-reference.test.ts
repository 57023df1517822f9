import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkSecretPath as agentCheck, parseSecretReference } from '../src/agent/secret-reference.ts';
import { checkSecretPath as serverCheck } from '../src/secrets/secret-fns.ts';

// The agent checks secret references before asking the server: with the server's own path rule
// (src/core/secret-path.ts), so every path the server accepts can be referenced, and none it refuses.

const accepted = (check: (path: string) => void, path: string) => {
  try {
    check(path);
    return true;
  } catch {
    return false;
  }
};

test('the agent accepts exactly the secret paths the server accepts', () => {
  const paths = [
    'prod/db',
    '/prod/db',
    'prod/db/',
    'a//b',
    'a/../b',
    'user@example.com/token',
    'x+y=z',
    'a.b_c-d',
    'x'.repeat(512),
    'x'.repeat(513),
    '',
    '.',
    '..',
    'a b',
    'a#b',
    'a\u0000b',
    'a?b',
    'é',
  ];
  for (const path of paths)
    assert.equal(accepted(agentCheck, path), accepted(serverCheck, path), `path ${JSON.stringify(path)}`);
  assert.ok(accepted(agentCheck, 'user@example.com/token') && accepted(agentCheck, '/prod/db'));
});

test('references: a version is a number or latest after the last @; a stage follows #; paths may hold @', () => {
  const cases: Array<[string, ReturnType<typeof parseSecretReference>]> = [
    ['prod/db', { path: 'prod/db', version: undefined, stage: undefined }],
    ['prod/db@7', { path: 'prod/db', version: 7, stage: undefined }],
    ['prod/db@latest', { path: 'prod/db', version: 'latest', stage: undefined }],
    ['prod/db#current', { path: 'prod/db', version: undefined, stage: 'current' }],
    ['user@example.com', { path: 'user@example.com', version: undefined, stage: undefined }],
    ['user@example.com/token@12', { path: 'user@example.com/token', version: 12, stage: undefined }],
    ['/svc/a+b=c@latest', { path: '/svc/a+b=c', version: 'latest', stage: undefined }],
    ['key@7@latest', { path: 'key@7', version: 'latest', stage: undefined }],
    ['prod/db@0', { path: 'prod/db@0', version: undefined, stage: undefined }],
    ['team@corp#previous', { path: 'team@corp', version: undefined, stage: 'previous' }],
  ];
  for (const [text, expected] of cases) assert.deepEqual(parseSecretReference(text), expected, text);
  for (const bad of ['', '.', '..@3', 'prod/db#', 'prod/db#a#b', 'a b@7', '@7'])
    assert.throws(() => parseSecretReference(bad), Error, bad);
});
