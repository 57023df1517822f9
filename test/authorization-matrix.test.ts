import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { declaredRoutes } from '../src/http/plugins/guard-plugin.ts';
import { predefinedRoles } from '../src/iam/roles.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

/**
 * Every declared route × every predefined role, generated from the route table and the role table:
 * a role bound on the project may call a route exactly when the role holds the route's permission
 * and the route's resource lies in the project. Routes are discovered from the server, so a new
 * route is covered (or fails) without editing this file; the only list here is the public routes.
 */
const publicRoutes = [
  'GET /v2/health',
  'GET /v2/sys/seal-status',
  'POST /v2/sys/init',
  'POST /v2/sys/unseal',
  'POST /v2/auth/login',
  'GET /v2/sys/audit-public-key',
].sort();

describe('authorization matrix: every route × every predefined role', () => {
  let node: TestNode;
  let admin: string;
  const params: Record<string, string> = { regionId: 'local', version: '1', tokenId: randomUUID() };
  const roleTokens = new Map<string, string>();

  before(async () => {
    node = await startTestNode();
    admin = node.adminToken!;
    const post = async (path: string, body: unknown = {}) => {
      const res = await call(node.url, 'POST', path, { token: admin, body });
      assert.ok(res.status < 300, `${path}: ${JSON.stringify(res.body)}`);
      return res.body;
    };
    params.projectId = (await post('/v2/projects')).id;
    params.keyRingId = (
      await post(`/v2/projects/${params.projectId}/regions/local/keyrings`, { displayName: 'm' })
    ).id;
    params.keyId = (
      await post(`/v2/projects/${params.projectId}/regions/local/keyrings/${params.keyRingId}/keys`, {
        algorithm: 'aes256-gcm96',
      })
    ).id;
    params.email = (
      await post(`/v2/projects/${params.projectId}/service-accounts`, { name: 'matrix-target' })
    ).email;
    let i = 0;
    for (const role of Object.keys(predefinedRoles)) {
      const sa = await post(`/v2/projects/${params.projectId}/service-accounts`, {
        name: `matrix-role-${i++}`,
      });
      await post(`/v2/projects/${params.projectId}/iam-policy:add-binding`, {
        role,
        member: `serviceAccount:${sa.email}`,
      });
      const token = await post(
        `/v2/projects/${params.projectId}/service-accounts/${encodeURIComponent(sa.email)}/tokens`,
      );
      roleTokens.set(role, token.token);
    }
  });
  after(async () => node.destroy());

  test('the public routes are exactly the unauthenticated routes of SPEC §4', () => {
    const declared = declaredRoutes(node.server)
      .filter((route) => !route.guard)
      .map((route) => `${route.method} ${route.url}`)
      .sort();
    assert.deepEqual(declared, publicRoutes);
  });

  test('each role may call exactly the routes whose permission it holds on the project', async () => {
    const guarded = declaredRoutes(node.server).filter((route) => route.guard);
    assert.ok(guarded.length > 50, `only ${guarded.length} guarded routes found`);
    const failures: string[] = [];
    for (const route of guarded) {
      const guard = route.guard!;
      const path = route.url
        .replaceAll('::', '\u0000')
        .replace(/:([A-Za-z]+)/g, (_, name: string) => encodeURIComponent(params[name] ?? 'x'))
        .replaceAll('\u0000', ':');
      const resource = guard.resource(params);
      for (const [role, token] of roleTokens) {
        const permissions = predefinedRoles[role]!.permissions;
        const expected =
          guard.permission === 'authenticated' ||
          (resource !== 'root' && (permissions as readonly string[]).includes(guard.permission));
        const body = route.method === 'GET' || route.method === 'DELETE' ? undefined : {};
        const res = await call(node.url, route.method, path, { token, ...(body ? { body } : {}) });
        const denied = res.status === 403 && res.body?.error?.code === 'permission_denied';
        if (denied === expected) {
          failures.push(
            `${role} ${route.method} ${route.url} (${String(guard.permission)}): expected ${expected ? 'allow' : 'deny'}, got ${res.status}`,
          );
        }
      }
    }
    assert.deepEqual(failures, []);
  });
});
