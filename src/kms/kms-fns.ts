import { CofferError, errors } from '../core/errors.ts';
import { isUuid } from '../core/ids.ts';
import { algorithmInfo, type KmsPurpose } from '../crypto/kms-algorithms.ts';
import type { CreateKeyInput, KeyState, VersionState } from './kms-types.ts';

/** Lifecycle actions on a key. */
export type KeyAction = 'enable' | 'disable' | 'schedule_deletion' | 'cancel_deletion' | 'rotate';

/**
 * The key state machine (SPEC §5, seed 000): the state each action leads to from each state, or
 * undefined when the action is not allowed there (`failed_precondition`). Repeating an action that is
 * already in effect (disable a disabled key) is allowed and changes nothing.
 */
const keyTransitions: Record<KeyAction, Partial<Record<KeyState, KeyState>>> = {
  enable: { active: 'active', disabled: 'active' },
  disable: { active: 'disabled', disabled: 'disabled' },
  schedule_deletion: { active: 'pending_deletion', disabled: 'pending_deletion' },
  cancel_deletion: { pending_deletion: 'disabled' },
  rotate: { active: 'active', disabled: 'disabled' },
};

/** The state after `action`, or `failed_precondition`. */
export function nextKeyState(state: KeyState, action: KeyAction): KeyState {
  const next = keyTransitions[action][state];
  if (next === undefined) {
    const hint = state === 'pending_deletion' ? ' Cancel the deletion first.' : '';
    throw new CofferError(
      'failed_precondition',
      `A key in state ${state} cannot ${action.replace('_', ' ')}.${hint}`,
    );
  }
  return next;
}

/** Lifecycle actions on a key version. */
export type VersionAction = 'enable' | 'disable' | 'destroy' | 'restore';

/**
 * The version state machine. `destroy` leads to `destroyed` (at once) or, when secrets depend on the
 * version and the caller forces it, to `destroy_scheduled`: the service chooses between the two.
 */
const versionTransitions: Record<VersionAction, Partial<Record<VersionState, VersionState>>> = {
  enable: { enabled: 'enabled', disabled: 'enabled' },
  disable: { enabled: 'disabled', disabled: 'disabled' },
  destroy: {
    enabled: 'destroyed',
    disabled: 'destroyed',
    destroy_scheduled: 'destroy_scheduled',
    destroyed: 'destroyed',
  },
  restore: { destroy_scheduled: 'disabled' },
};

/** The version state after `action`, or `failed_precondition`. */
export function nextVersionState(state: VersionState, action: VersionAction): VersionState {
  const next = versionTransitions[action][state];
  if (next === undefined) {
    const hint = state === 'destroy_scheduled' ? ' Restore it first (POST …/restore).' : '';
    const verb = action === 'destroy' ? 'destroyed' : `${action}d`;
    throw new CofferError('failed_precondition', `A key version in state ${state} cannot be ${verb}.${hint}`);
  }
  return next;
}

/** The error of a crypto operation on a key or version that is not usable. */
export function keyNotActive(what: string): CofferError {
  return new CofferError('key_not_active', what);
}

/** Checks that a crypto operation may use this key and version (SPEC §5). */
export function requireUsable(
  keyState: KeyState,
  versionState: VersionState | undefined,
  version: number,
): void {
  if (keyState !== 'active')
    throw keyNotActive(`The key is ${keyState}; crypto operations need an active key.`);
  if (versionState !== 'enabled') {
    throw keyNotActive(
      `Key version ${version} is ${versionState ?? 'missing'}; crypto operations need an enabled version.`,
    );
  }
}

/** Day in milliseconds. */
export const dayMs = 86_400_000;

/** Smallest automatic rotation period: one day, as Google's KMS. */
export const minRotationPeriodSeconds = 86_400;

/** The purpose of a key about to be created; checks the algorithm, id and rotation period (`invalid_argument`). */
export function newKeyPurpose(input: CreateKeyInput): KmsPurpose {
  const info = algorithmInfo[input.algorithm];
  const purpose = input.purpose ?? info.purposes[0]!;
  if (!info.purposes.includes(purpose)) {
    throw errors.invalid(
      `Algorithm ${input.algorithm} supports purposes ${info.purposes.join(', ')}, not ${purpose}.`,
    );
  }
  if (input.id !== undefined && !isUuid(input.id)) throw errors.invalid('id must be a lowercase UUID.');
  if (input.rotationPeriodSeconds !== undefined && input.rotationPeriodSeconds < minRotationPeriodSeconds) {
    throw errors.invalid(`rotationPeriod must be at least ${minRotationPeriodSeconds}s.`);
  }
  if (input.rotationPeriodSeconds !== undefined && info.family !== 'symmetric') {
    throw errors.invalid('Automatic rotation is only for symmetric encryption keys.');
  }
  return purpose;
}
