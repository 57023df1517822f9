import type { Binding } from './iam-repo.ts';

/** How long a binding lasts: an unconditional one outranks any conditional one. */
function strength(binding: Binding): [number, number] {
  if (!binding.condition) return [Number.POSITIVE_INFINITY, 1];
  return [binding.condition.expiresAtMs ?? Number.POSITIVE_INFINITY, 0];
}

function atLeast(a: [number, number], b: [number, number]): boolean {
  return a[0] > b[0] || (a[0] === b[0] && a[1] >= b[1]);
}

/**
 * The roles a policy change grants anew (SPEC §7 no-escalation): a member's binding in `after` is
 * new unless `before` already gave that member the same role at least as long and at least as
 * unconditionally — so adding a member, removing a condition, extending an expiry, or renewing an
 * expired grant all count, while shortening or removing a grant does not. A binding that has already
 * expired when written grants nothing.
 */
export function newlyGrantedRoles(
  before: readonly Binding[],
  after: readonly Binding[],
  nowMs: number,
): Set<string> {
  const roles = new Set<string>();
  for (const binding of after) {
    const expiresAt = binding.condition?.expiresAtMs;
    if (expiresAt !== undefined && expiresAt <= nowMs) continue;
    const wanted = strength(binding);
    for (const member of binding.members) {
      const covered = before.some(
        (b) => b.role === binding.role && b.members.includes(member) && atLeast(strength(b), wanted),
      );
      if (!covered) roles.add(binding.role);
    }
  }
  return roles;
}

/**
 * The members a policy change takes something from (the converse of `newlyGrantedRoles`): a member
 * of a binding in `before` that `after` no longer gives the same role at least as long and at least
 * as unconditionally. They may lose sight of the resource, so the change is shown to them anyway.
 */
export function reducedMembers(before: readonly Binding[], after: readonly Binding[]): string[] {
  const members = new Set<string>();
  for (const binding of before) {
    const had = strength(binding);
    for (const member of binding.members) {
      const kept = after.some(
        (b) => b.role === binding.role && b.members.includes(member) && atLeast(strength(b), had),
      );
      if (!kept) members.add(member);
    }
  }
  return [...members];
}
