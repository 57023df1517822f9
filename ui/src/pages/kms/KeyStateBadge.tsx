import type { ReactNode } from 'react';

/** A key or key version state as a badge: green when usable, red otherwise (with the word, never colour alone). */
export function KeyStateBadge(props: { readonly state: string }): ReactNode {
  const ok = props.state === 'active' || props.state === 'enabled';
  return <span className={ok ? 'badge ok' : 'badge bad'}>{props.state.replaceAll('_', ' ')}</span>;
}
