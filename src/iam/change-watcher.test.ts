import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ChangeRow } from '../storage/change-log.ts';
import { affectsDecisions } from './change-watcher.ts';

const row = (type: string): ChangeRow => ({
  cursor: 1,
  timeMs: 1,
  type,
  resource: 'projects/p',
  projectId: 'p',
  principal: 'user:a@example.com',
  version: null,
  stage: null,
  audience: null,
});

test('data changes keep the IAM caches; policy, principal, deletion and unknown changes drop them', () => {
  for (const type of [
    'version.added',
    'version.disabled',
    'stage.moved',
    'key.rotated',
    'key_version.destroyed',
  ])
    assert.equal(affectsDecisions([row(type)]), false, type);
  for (const type of [
    'iam.policy_changed',
    'iam.token.revoke',
    'iam.user.disable',
    'sys.root_token.rotate',
    'secret.purged',
    'secret.deleted',
    'instance.deleted',
    'key.destroyed',
    'project.updated',
    'something.new',
  ])
    assert.equal(affectsDecisions([row('version.added'), row(type)]), true, type);
});
