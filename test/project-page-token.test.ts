import assert from 'node:assert/strict';
import { test } from 'node:test';
import { systemClock } from '../src/core/clock.ts';
import { encodePageToken } from '../src/core/pagination.ts';
import { ProjectService } from '../src/projects/project-service.ts';
import { startTestNode } from './support/test-node.ts';

test('a filtered listing cut short by its scan bound answers a sealed token that names no hidden project', async () => {
  const node = await startTestNode();
  try {
    const regions = [{ id: 'local', kms: true }];
    const listing = (barrier = node.app.barrier) =>
      new ProjectService(node.app.storage, systemClock, regions, { barrier, maxScannedProjects: 3 });
    const projects = listing();
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push((await projects.create({ displayName: `p${i}` })).id);
    ids.sort();
    const shown = ids.at(-1)!;
    const hidden = ids.filter((id) => id !== shown);
    const visible = async (project: { id: string }) => project.id === shown;

    const first = await projects.listVisible(10, undefined, visible);
    assert.deepEqual(first.items, []);
    const token = first.nextPageToken!;
    const bytes = Buffer.from(token, 'base64url');
    for (const id of hidden) {
      assert.ok(!token.includes(id));
      assert.ok(!bytes.includes(Buffer.from(id)), 'the token carries a hidden project id');
      assert.ok(!bytes.includes(Buffer.from(id.replaceAll('-', ''), 'hex')));
    }
    // A fresh service (as on another node: the same root key) continues the listing; the caller ends with what it may see.
    const seen: string[] = [];
    let next: string | undefined = token;
    for (let pages = 0; next !== undefined && pages < 10; pages++) {
      const page = await listing().listVisible(10, next, visible);
      seen.push(...page.items.map((project) => project.id));
      next = page.nextPageToken;
    }
    assert.deepEqual(seen, [shown]);
    // A readable token (the old format) or a tampered one is refused.
    await assert.rejects(projects.listVisible(10, encodePageToken(hidden[0]!), visible), {
      code: 'invalid_argument',
    });
    bytes[bytes.length - 1]! ^= 1;
    await assert.rejects(projects.listVisible(10, bytes.toString('base64url'), visible), {
      code: 'invalid_argument',
    });
  } finally {
    await node.destroy();
  }
});
