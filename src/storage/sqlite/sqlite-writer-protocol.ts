/**
 * Messages between the main thread and the SQLite writer thread. Everything crosses by structured
 * clone, so only plain data: no class instances, no functions.
 */

import type { WriteStatement } from '../storage-types.ts';

/** What the writer thread is started with (`workerData`). */
export interface WriterConfig {
  readonly file: string;
  readonly busyTimeoutMs: number;
}

/** One write unit, numbered by the main thread to match the answer. */
export interface WriterUnit {
  readonly id: number;
  readonly statements: readonly WriteStatement[];
}

/** Main thread → writer. */
export type WriterRequest =
  { readonly type: 'write'; readonly units: readonly WriterUnit[] } | { readonly type: 'close' };

/** How one unit ended. */
export type UnitOutcome =
  /**
   * `rows`: what each statement returned (RETURNING), or absent when no statement returned any row
   * (most units): a message of one small object per unit instead of an empty array per statement,
   * which cost the writer thread ≈3 µs per audit event to clone.
   */
  | { readonly id: number; readonly ok: true; readonly rows?: unknown[][] }
  | {
      readonly id: number;
      readonly ok: false;
      readonly failure: 'expectation' | 'unique';
      readonly statementIndex: number;
    }
  | {
      readonly id: number;
      readonly ok: false;
      readonly failure: 'unavailable' | 'statement';
      readonly message: string;
    };

/** Writer → main thread. `ready` carries the open error, if the database could not be opened. */
export type WriterResponse =
  | { readonly type: 'ready'; readonly error?: string }
  | { readonly type: 'outcomes'; readonly outcomes: readonly UnitOutcome[] }
  | { readonly type: 'closed' };
