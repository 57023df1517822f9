import { type CofferError, errors } from '../core/errors.ts';
import { isUuid } from '../core/ids.ts';

/**
 * Whether `value` reads as a UUID in any letter case. An instance name goes where the instance id
 * goes in URLs, so a name must never look like an id (nor resolve as a name when it does).
 */
export function looksLikeUuid(value: string): boolean {
  return isUuid(value.toLowerCase());
}

/** `invalid_argument` unless `name` may name an instance. */
export function requireInstanceName(name: string): void {
  if (looksLikeUuid(name))
    throw errors.invalid('An instance name may not look like a UUID: names go where ids go in URLs.');
}

/** The error of a name another instance of the project and region has (one name, one instance). */
export function instanceNameTaken(name: string): CofferError {
  return errors.alreadyExists(`An instance named ${name} in this project and region`);
}
