import { CofferError, errors } from '../core/errors.ts';
import { maxValueBytes } from './secret-fns.ts';

/** A value to store: text or bytes. */
export interface ValueInput {
  readonly value?: string;
  readonly binaryValue?: Buffer;
}

/** A revealed value. */
export interface RevealedValue {
  readonly value?: string;
  readonly binaryValue?: Buffer;
  readonly version: number;
  readonly stages: string[];
  readonly createTimeMs: number;
}

/** The bytes of a value to store, checked: exactly one of text and bytes, at most `maxValueBytes`. */
export function toBytes(input: ValueInput): { bytes: Buffer; binary: boolean } {
  if ((input.value === undefined) === (input.binaryValue === undefined))
    throw errors.invalid('Give exactly one of value and binaryValue.');
  const bytes = input.value !== undefined ? Buffer.from(input.value, 'utf8') : input.binaryValue!;
  if (bytes.length > maxValueBytes)
    throw new CofferError('payload_too_large', `The secret value is over ${maxValueBytes} bytes.`);
  return { bytes, binary: input.value === undefined };
}

/** The stages of `stages` that point at `version`, sorted. */
export function stagesOf(stages: Map<string, number>, version: number): string[] {
  const found: string[] = [];
  for (const [stage, v] of stages) if (v === version) found.push(stage);
  return found.length > 1 ? found.sort() : found;
}

/**
 * The stages after a put of `version` with `moved` (as its statements move them): `previous` onto
 * the old `current` when `current` moves, then every moved stage onto the new version.
 */
export function stagesAfter(
  current: ReadonlyMap<string, number>,
  moved: readonly string[],
  version: number,
): Map<string, number> {
  const after = new Map(current);
  const previous = current.get('current');
  if (moved.includes('current') && previous !== undefined) after.set('previous', previous);
  for (const stage of moved) after.set(stage, version);
  return after;
}
