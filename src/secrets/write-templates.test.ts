import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dialectCompilers } from '../../test/support/dialect-compilers.ts';
import { sql } from 'kysely';
import { changeStatement, recordsChange, resourcesOfChanges } from '../storage/change-log.ts';
import { stmt } from '../storage/storage-types.ts';
import { SecretStageRepo } from './secret-stage-repo.ts';
import { SecretVersionRepo } from './secret-version-repo.ts';
import { SecretsRepo } from './secrets-repo.ts';

// A put's write statements are bound from templates compiled once; each must be exactly what
// compiling the same Kysely query per call gives (SQL, parameters in order, expectation).
const compilers = dialectCompilers;

for (const [engine, db] of Object.entries(compilers)) {
  test(`a put's write statements bind what compiling each time gives (${engine})`, () => {
    for (const [uid, version] of [
      ['s-1', 7],
      ['s-2', 1],
    ] as const) {
      assert.deepEqual(
        new SecretsRepo(db).claimVersion(uid, version, `etag-${version}`, 1000 + version),
        stmt(
          db
            .updateTable('sm_secrets')
            .set({ next_version: version + 1, etag: `etag-${version}`, update_time: 1000 + version })
            .where('uid', '=', uid)
            .where('next_version', '=', version)
            .where('delete_time', 'is', null),
          'one',
        ),
      );
      const ciphertext = Buffer.from([1, 2, version]);
      const wrapped = Buffer.from([3, 4, version]);
      assert.deepEqual(
        new SecretVersionRepo(db).insertVersion(
          {
            secretUid: uid,
            version,
            state: 'enabled',
            binary: version === 1,
            wrapKeyUid: version === 1 ? null : 'k-1',
            followsInstance: version !== 1,
            createdBy: 'user:a@example.com',
            createTimeMs: 5000,
            destroyTimeMs: null,
          },
          ciphertext,
          wrapped,
        ),
        stmt(
          db.insertInto('sm_versions').values({
            secret_uid: uid,
            version,
            state: 'enabled',
            binary: version === 1 ? 1 : 0,
            ciphertext,
            wrapped_key: wrapped,
            wrap_key_uid: version === 1 ? null : 'k-1',
            follows_instance: version !== 1 ? 1 : 0,
            created_by: 'user:a@example.com',
            create_time: 5000,
            destroy_time: null,
          }),
        ),
      );
      assert.deepEqual(
        new SecretStageRepo(db).moveStage(uid, `stage-${version}`, version),
        stmt(
          db
            .insertInto('sm_stages')
            .values({ secret_uid: uid, stage: `stage-${version}`, version })
            .onConflict((oc) => oc.columns(['secret_uid', 'stage']).doUpdateSet({ version })),
        ),
      );
      assert.deepEqual(
        new SecretStageRepo(db).insertIdempotency(uid, `key-${version}`, version, wrapped, 77),
        stmt(
          db.insertInto('sm_idempotency').values({
            secret_uid: uid,
            key: `key-${version}`,
            version,
            create_time: 77,
            request_digest: wrapped,
          }),
        ),
      );
    }
  });

  test(`a change record binds what compiling each time gives, and is still known as one (${engine})`, () => {
    const base = { type: 'version.added', resource: 'projects/p/x', principal: 'service:s', timeMs: 9 };
    const row = (audience: unknown, detail: { project_id?: string; version?: number; stage?: string } = {}) =>
      stmt(
        db.insertInto('change_log').values({
          time: 9,
          kind: 'version.added',
          resource: 'projects/p/x',
          project_id: detail.project_id ?? null,
          principal: 'service:s',
          version: detail.version ?? null,
          stage: detail.stage ?? null,
          audience: audience as never,
        }),
      );
    const plain = changeStatement(db, base);
    assert.deepEqual(plain, row(null));
    const full = changeStatement(db, { ...base, projectId: 'p', version: 3, stage: 'current' });
    assert.deepEqual(full, row(null, { project_id: 'p', version: 3, stage: 'current' }));
    const members = changeStatement(db, { ...base, audience: { members: ['user:a', 'user:b'] } });
    assert.deepEqual(members, row(JSON.stringify([{ members: ['user:a', 'user:b'] }])));
    const policy = changeStatement(db, { ...base, audience: { policyOf: 'projects/p/x' } });
    assert.deepEqual(
      policy,
      row(sql`(SELECT bindings FROM iam_policies WHERE resource = ${'projects/p/x'})`),
    );
    for (const statement of [plain, full, members, policy]) {
      assert.equal(recordsChange([statement]), true);
      assert.equal(resourcesOfChanges([statement]).get(statement), 'projects/p/x');
    }
    // A statement equal in content but not made by changeStatement records nothing.
    assert.equal(recordsChange([row(null)]), false);
  });
}
