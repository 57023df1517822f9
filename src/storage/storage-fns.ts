/**
 * Pure rules shared by both engines, so that SQLite and PostgreSQL bind parameters, count rows and
 * shape result rows the same way.
 */

import type { WriteStatement } from './storage-types.ts';

/** True when `count` rows satisfy the statement's expectation (`one` = exactly one, `some` = ≥ 1). */
export function expectationMet(expect: WriteStatement['expect'], count: number): boolean {
  if (expect === 'one') return count === 1;
  if (expect === 'some') return count >= 1;
  return true;
}

/**
 * Parameters as both drivers accept them: booleans become 0/1 (the schema stores booleans as
 * integers, and PostgreSQL refuses `true` for an integer column), Uint8Array stays binary.
 */
export function bindableParameters(parameters: readonly unknown[]): unknown[] {
  const bound = new Array<unknown>(parameters.length);
  for (let i = 0; i < parameters.length; i++) {
    const value = parameters[i];
    bound[i] = typeof value === 'boolean' ? (value ? 1 : 0) : value;
  }
  return bound;
}

/**
 * A result row as a plain object whose binary values are Buffers: node:sqlite gives null-prototype
 * objects and Uint8Array, pg gives plain objects and Buffer; callers (and deepEqual) see one shape.
 */
export function plainRow(row: unknown): Record<string, unknown> {
  const source = row as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key in source) {
    const value = source[key];
    out[key] =
      value instanceof Uint8Array && !Buffer.isBuffer(value)
        ? Buffer.from(value.buffer, value.byteOffset, value.byteLength)
        : value;
  }
  return out;
}
