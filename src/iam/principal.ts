/** A principal as written in policies and audit events: `user:{email}` or `serviceAccount:{email}`. */
export type Principal = string & { readonly __brand: 'Principal' };

/** The first administrator made at initialization; holds roles/owner on the root resource. */
export const initialAdminPrincipal = 'user:admin@coffer.internal' as Principal;

const principalPattern = /^(user|serviceAccount):[^\s:@]+@[^\s:@]+$/;

/** Parses a member string such as `user:alice@example.com`; undefined when malformed. */
export function parsePrincipal(member: string): Principal | undefined {
  return principalPattern.test(member) ? (member as Principal) : undefined;
}
