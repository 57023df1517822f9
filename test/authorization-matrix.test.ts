import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { declaredRoutes } from '../src/http/plugins/guard-plugin.ts';
import type { Permission } from '../src/iam/permissions.ts';
import { principalSources, reachablePermissions } from '../src/iam/role-escalation.ts';
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
  'POST /v2/auth/token',
  'GET /v2/sys/audit-public-key',
].sort();

/** The status (and error body) of an event-stream route, closing the stream once it opens. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the body is read like call()'s
async function streamStatus(url: string, token: string): Promise<{ status: number; body: any }> {
  const controller = new AbortController();
  const response = await fetch(url, {
    headers: { authorization: `Bearer ${token}` },
    signal: controller.signal,
  });
  if (response.headers.get('content-type')?.startsWith('text/event-stream')) {
    controller.abort();
    return { status: response.status, body: undefined };
  }
  return { status: response.status, body: await response.json() };
}

describe('authorization matrix: every route × every predefined role', () => {
  let node: TestNode;
  let admin: string;
  const params: Record<string, string> = {
    regionId: 'local',
    version: '1',
    tokenId: randomUUID(),
    user: 'matrix-user@example.com',
  };
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
    // Logging out revokes the role's token: it goes last, when no other route needs the token.
    const loggingOut = (route: { url: string }) => Number(route.url === '/v2/auth/logout');
    const guarded = declaredRoutes(node.server)
      .filter((route) => route.guard)
      .sort((a, b) => loggingOut(a) - loggingOut(b));
    assert.ok(guarded.length > 50, `only ${guarded.length} guarded routes found`);
    const failures: string[] = [];
    for (const route of guarded) {
      const guard = route.guard!;
      const path = route.url
        .replace(/\([^)]*\)/g, '')
        .replaceAll('::', '\u0000')
        .replace(/:([A-Za-z]+)/g, (_, name: string) => encodeURIComponent(params[name] ?? 'x'))
        .replaceAll('\u0000', ':');
      const resource = guard.resource(params);
      for (const [role, token] of roleTokens) {
        const permissions = predefinedRoles[role]!.permissions;
        const needed = [guard.permission, ...(guard.alsoNeeds ?? [])];
        const expected =
          guard.permission === 'authenticated' ||
          (resource !== 'root' && needed.every((p) => (permissions as readonly string[]).includes(p)));
        const body = route.method === 'GET' || route.method === 'DELETE' ? undefined : {};
        // An event stream never ends by itself: only its status matters here.
        const res = route.url.endsWith('::stream')
          ? await streamStatus(`${node.url}${path}`, token)
          : await call(node.url, route.method, path, { token, ...(body ? { body } : {}) });
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

  test('each route that hands out another principal’s credential needs exactly what role-escalation.ts says', () => {
    const routes = declaredRoutes(node.server);
    for (const source of principalSources) {
      const route = routes.find((r) => `${r.method} ${r.url}` === source.route);
      assert.ok(route?.guard, `${source.route} is declared and guarded`);
      const needs = [route.guard.permission, ...(route.guard.alsoNeeds ?? [])].sort();
      const expected = source.needs.filter(
        (p) => !(source.actAsInService && p === 'iam.service_accounts.act_as'),
      );
      assert.deepEqual(needs, [...expected].sort(), `${source.what}: ${source.route}`);
    }
  });

  test('escalation closure: no predefined role reaches, through credentials it can obtain, more than it holds', () => {
    const failures: string[] = [];
    for (const [role, { permissions }] of Object.entries(predefinedRoles)) {
      const own = new Set<Permission>(permissions);
      const extra = [...reachablePermissions(permissions)].filter((p) => !own.has(p));
      if (extra.length > 0)
        failures.push(`${role} reaches ${extra.length} more, e.g. ${extra.slice(0, 3).join(', ')}`);
    }
    assert.deepEqual(failures, []);
  });

  test('escalation closure catches a role given a credential-yielding permission', () => {
    const iamAdmin = predefinedRoles['roles/iam.admin']!.permissions;
    const widened: Permission[] = [
      ...iamAdmin,
      'iam.service_account_tokens.create',
      'iam.service_accounts.act_as',
    ];
    assert.ok(reachablePermissions(widened).has('secrets.get_value'));
    // A service-account key is such a credential too.
    assert.ok(
      reachablePermissions([
        ...iamAdmin,
        'iam.service_account_keys.create',
        'iam.service_accounts.act_as',
      ]).has('secrets.get_value'),
    );
    // So is enabling a disabled key: iam.admin holds keys.enable, and without act_as reaches nothing.
    assert.ok(!reachablePermissions(iamAdmin).has('secrets.get_value'));
    assert.ok(reachablePermissions([...iamAdmin, 'iam.service_accounts.act_as']).has('secrets.get_value'));
    // Rotating the root token yields nothing to anyone but the first admin itself.
    assert.ok(!reachablePermissions([...iamAdmin, 'sys.root_token.rotate']).has('secrets.get_value'));
  });

  test('no credential outlives a time-bound grant: every source that yields rights caps or refuses it', () => {
    const unbounded = principalSources
      .filter((s) => !s.selfOnly && s.yields.length > 0 && s.timeBound === undefined)
      .map((s) => s.what);
    assert.deepEqual(unbounded, []);
  });
});
