import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from '../../test/support/postgres.ts';
import { call, startTestNode, type TestNode } from '../../test/support/test-node.ts';
import type { Principal } from '../iam/principal.ts';
import { ensureAwsManagedKey } from './kms-alias-service.ts';
import { encryptionContextAad, satisfiesConstraints } from './kms-grant-fns.ts';
import { awsKeyRingId, namedUuid } from './kms-key-extras-service.ts';

const postgresSkip = await postgresSkipReason();

test('encryption context AAD ignores pair order; empty and absent are the same', () => {
  assert.deepEqual(encryptionContextAad({ b: '2', a: '1' }), encryptionContextAad({ a: '1', b: '2' }));
  assert.equal(encryptionContextAad({}).length, 0);
  assert.equal(encryptionContextAad(undefined).length, 0);
  assert.notDeepEqual(encryptionContextAad({ a: '1' }), encryptionContextAad({ a: '2' }));
});

test('grant constraints: subset allows more pairs, equals does not', () => {
  const subset = { encryptionContextSubset: { app: 'x' } };
  assert.equal(satisfiesConstraints(subset, { app: 'x', more: '1' }), true);
  assert.equal(satisfiesConstraints(subset, { app: 'y' }), false);
  assert.equal(satisfiesConstraints(subset, undefined), false);
  const equals = { encryptionContextEquals: { app: 'x' } };
  assert.equal(satisfiesConstraints(equals, { app: 'x' }), true);
  assert.equal(satisfiesConstraints(equals, { app: 'x', more: '1' }), false);
  assert.equal(satisfiesConstraints(null, undefined), true);
});

test('named UUIDs are stable, well-formed and distinct', () => {
  assert.match(awsKeyRingId, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(namedUuid('a', 'b'), namedUuid('a', 'b'));
  assert.notEqual(namedUuid('a', 'b'), namedUuid('ab'));
});

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(
    `KMS AWS extras (${engine})`,
    { skip: engine === 'postgres' ? (postgresSkip ?? false) : false },
    () => {
      let node: TestNode;
      let database: TestDatabase | undefined;
      let projectId: string;
      const location = () => ({ projectId, regionId: 'eu01' });

      before(async () => {
        const env: Record<string, string> = { COFFER_REGIONS: 'eu01' };
        if (engine === 'postgres') {
          database = await createTestDatabase();
          env.COFFER_DATABASE_URL = database.url;
        }
        node = await startTestNode({ env });
        const res = await call(node.url, 'POST', '/v2/projects', {
          token: node.adminToken!,
          body: { displayName: 'aws-kms' },
        });
        projectId = res.body.id;
      });
      after(async () => {
        await node?.destroy();
        await database?.drop();
      });

      test('the managed key is made once under concurrent first uses, in the aws key ring', async () => {
        const keys = await Promise.all(
          Array.from({ length: 6 }, () => ensureAwsManagedKey(node.app, projectId, 'eu01', 'secretsmanager')),
        );
        assert.equal(new Set(keys.map((k) => k.uid)).size, 1);
        assert.equal(keys[0]!.keyRingId, awsKeyRingId);
        assert.equal(keys[0]!.algorithm, 'aes256-gcm96');
        const alias = await node.app.kmsAliases.find(location(), 'alias/aws/secretsmanager');
        assert.equal(alias?.keyUid, keys[0]!.uid);
        assert.equal((await node.app.kmsKeyExtras.attributes(keys[0]!)).keyManager, 'AWS');
        const again = await ensureAwsManagedKey(node.app, projectId, 'eu01', 'secretsmanager');
        assert.equal(again.uid, keys[0]!.uid);
      });

      test('aliases, tags, attributes, rotation and grants are stored and read back', async () => {
        const key = await node.app.kmsKeyExtras.createKey(
          location(),
          { algorithm: 'aes256-gcm96' },
          { description: 'd1', tags: [{ key: 'team', value: 'a' }] },
        );
        assert.equal((await node.app.kmsKeyExtras.findKeyById(location(), key.id))?.uid, key.uid);
        await node.app.kmsAliases.create('alias/app', key);
        await assert.rejects(node.app.kmsAliases.create('alias/app', key), { code: 'already_exists' });
        const listed = await node.app.kmsAliases.list(location(), key.uid, undefined, 10);
        assert.deepEqual(
          listed.map((a) => a.name),
          ['alias/app'],
        );
        await node.app.kmsKeyExtras.tag(
          key,
          [
            { key: 'env', value: 'prod' },
            { key: 'team', value: 'b' },
          ],
          50,
        );
        await node.app.kmsKeyExtras.untag(key, ['env', 'missing']);
        assert.deepEqual(await node.app.kmsKeyExtras.tags(key), [{ key: 'team', value: 'b' }]);
        await node.app.kmsKeyExtras.setDescription(key, 'd2');
        await node.app.kmsKeyExtras.setPolicy(key, '{"Version":"2012-10-17","Statement":[]}');
        const attributes = await node.app.kmsKeyExtras.attributes(key);
        assert.equal(attributes.description, 'd2');
        assert.equal(attributes.keyManager, 'CUSTOMER');
        const rotating = await node.app.kmsKeyExtras.setRotation(key, 90 * 86_400);
        assert.equal(rotating.rotationPeriodSeconds, 90 * 86_400);
        const grantee = 'serviceAccount:app@iam.coffer.internal' as Principal;
        const grant = await node.app.kmsGrants.create(
          key,
          {
            name: 'g',
            granteePrincipal: grantee,
            grantee,
            operations: ['Decrypt'],
            constraints: { encryptionContextSubset: { app: 'x' } },
          },
          'user:admin@coffer.internal' as Principal,
        );
        const same = await node.app.kmsGrants.create(
          key,
          {
            name: 'g',
            granteePrincipal: grantee,
            grantee,
            operations: ['Decrypt'],
            constraints: { encryptionContextSubset: { app: 'x' } },
          },
          'user:admin@coffer.internal' as Principal,
        );
        assert.equal(same.id, grant.id);
        assert.equal(
          (await node.app.kmsGrants.allowing(grantee, key, 'Decrypt', { app: 'x' }))?.id,
          grant.id,
        );
        assert.equal(await node.app.kmsGrants.allowing(grantee, key, 'Decrypt', { app: 'y' }), undefined);
        assert.equal(await node.app.kmsGrants.allowing(grantee, key, 'Encrypt', { app: 'x' }), undefined);
        const keys = await node.app.kmsKeyExtras.listKeys(location(), undefined, 100);
        assert.ok(keys.some((k) => k.uid === key.uid));
        const page = await node.app.kmsKeyExtras.listKeys(location(), keys[0]!.uid, 100);
        assert.equal(page.length, keys.length - 1);
        const attributesOf = await node.app.kmsKeyExtras.attributesOf(keys);
        assert.equal(attributesOf.get(key.uid)?.description, 'd2');
        assert.deepEqual(
          (await node.app.kmsGrants.list(key, { grantee }, undefined, 10)).map((g) => g.id),
          [grant.id],
        );
        assert.deepEqual(await node.app.kmsGrants.list(key, { grantId: 'f'.repeat(64) }, undefined, 10), []);
        const retiring = await node.app.kmsGrants.create(
          key,
          {
            granteePrincipal: grantee,
            grantee,
            retiringPrincipal: grantee,
            retiring: grantee,
            operations: ['Encrypt'],
          },
          'user:admin@coffer.internal' as Principal,
        );
        assert.deepEqual(
          (await node.app.kmsGrants.listRetirable(location(), grantee, undefined, 10)).map((g) => g.id),
          [retiring.id],
        );
        assert.equal(await node.app.kmsGrants.find({ projectId, regionId: 'other' }, retiring.id), undefined);
        await node.app.kmsGrants.delete(key, grant);
        await assert.rejects(node.app.kmsGrants.delete(key, grant), { code: 'not_found' });
        assert.equal(await node.app.kmsGrants.allowing(grantee, key, 'Decrypt', { app: 'x' }), undefined);
      });
    },
  );
}
