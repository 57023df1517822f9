import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dialectCompilers } from '../../test/support/dialect-compilers.ts';
import { statementTemplate, stmt } from './storage-types.ts';

const compilers = dialectCompilers;

for (const [engine, db] of Object.entries(compilers)) {
  test(`a statement template binds the same SQL and parameters as compiling each time (${engine})`, () => {
    const upsert = (chainId: unknown, seq: unknown, nowMs: unknown) =>
      db
        .insertInto('audit_chains')
        .values({ chain_id: chainId as string, head_seq: seq as number, update_time: nowMs as number })
        .onConflict((oc) =>
          oc.column('chain_id').doUpdateSet({ head_seq: seq as number, update_time: nowMs as number }),
        );
    const template = statementTemplate(['chainId', 'seq', 'nowMs'], (p) => upsert(p.chainId, p.seq, p.nowMs));
    assert.deepEqual(template({ chainId: 'c1', seq: 7, nowMs: 1234 }), stmt(upsert('c1', 7, 1234)));
    assert.deepEqual(template({ chainId: 'c2', seq: 8, nowMs: 99 }).parameters, ['c2', 8, 99, 8, 99]);
  });
}

test('a statement template refuses a query with a parameter that is not a placeholder', () => {
  assert.throws(() =>
    statementTemplate(['seq'], (p) =>
      compilers.sqlite
        .insertInto('audit_chains')
        .values({ chain_id: 'fixed', head_seq: p.seq, update_time: 1 }),
    ),
  );
});
