import type { ReactNode } from 'react';

/** Whether an account or credential is enabled, as a badge (the word, never colour alone). */
export function EnabledBadge(props: { readonly disabled: boolean }): ReactNode {
  return props.disabled ? (
    <span className="badge bad">disabled</span>
  ) : (
    <span className="badge ok">enabled</span>
  );
}
