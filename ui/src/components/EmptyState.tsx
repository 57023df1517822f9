import type { ReactNode } from 'react';

/** An empty list: what is missing and what to do next. */
export function EmptyState(props: { readonly title: string; readonly children?: ReactNode }): ReactNode {
  return (
    <div className="empty-state">
      <p className="empty-title">{props.title}</p>
      {props.children && <div className="muted">{props.children}</div>}
    </div>
  );
}
