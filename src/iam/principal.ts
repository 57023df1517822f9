/** A principal as written in policies and audit events: `user:{email}` or `serviceAccount:{email}`. */
export type Principal = string & { readonly __brand: 'Principal' };

/** The first administrator made at initialization; holds roles/owner on the root resource. */
export const initialAdminPrincipal = 'user:admin@coffer.internal' as Principal;

const principalPattern = /^(user|serviceAccount):[^\s:@]+@[^\s:@]+$/;

/** The addresses users and service accounts may have. */
export const emailPattern = /^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,63}$/;

/** Parses a member string such as `user:alice@example.com`; undefined when malformed. */
export function parsePrincipal(member: string): Principal | undefined {
  return principalPattern.test(member) ? (member as Principal) : undefined;
}

/**
 * Whether an address is reserved for Coffer's own principals: the first admin's and every address
 * under `coffer.internal` (service accounts live under `iam.coffer.internal`). No password user may
 * have one, so nobody can create a user that is, or looks like, the first admin or a service account.
 */
export function isReservedUserEmail(email: string): boolean {
  const domain = email.slice(email.lastIndexOf('@') + 1).toLowerCase();
  return domain === 'coffer.internal' || domain.endsWith('.coffer.internal');
}
