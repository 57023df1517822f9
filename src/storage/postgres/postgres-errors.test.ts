import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CofferError } from '../../core/errors.ts';
import { toStorageError } from './postgres-errors.ts';

/** An error shaped as pg raises a refused statement. */
function pgError(code: string, routine: string): Error {
  return Object.assign(new Error('invalid input'), {
    code,
    routine,
    detail: 'JSON data, line 1: {"a":"secret-marker',
    where: "unnamed portal parameter $1 = '...'",
  });
}

test('text PostgreSQL cannot store is invalid_argument, without the value or pg detail', () => {
  for (const err of [
    pgError('22021', 'report_invalid_encoding_int'),
    pgError('22P05', 'json_ereport_error'),
    pgError('22P02', 'json_ereport_error'),
  ]) {
    const mapped = toStorageError(err, 'db:5432/x', []);
    assert.ok(mapped instanceof CofferError);
    assert.equal(mapped.code, 'invalid_argument');
    assert.doesNotMatch(mapped.message, /secret-marker|JSON data|portal/);
    assert.equal(mapped.cause, undefined, 'the driver error (which quotes the value) is not kept');
  }
});

test('an invalid text representation that is not JSON stays an unexpected error', () => {
  const err = pgError('22P02', 'pg_strtoint32');
  assert.equal(toStorageError(err, 'db:5432/x', []), err);
});
