import { type ReactNode, useEffect } from 'react';
import { Link } from '../router.tsx';

/** A breadcrumb step: text and, except for the last, a console path. */
export interface Crumb {
  readonly label: string;
  readonly to?: string;
}

/** A page: breadcrumbs, its one <h1> (also the document title), optional actions, then content. */
export function Page(props: {
  readonly title: string;
  readonly crumbs?: readonly Crumb[];
  readonly actions?: ReactNode;
  readonly children?: ReactNode;
}): ReactNode {
  useEffect(() => {
    document.title = `${props.title} · Coffer`;
  }, [props.title]);
  return (
    <>
      {props.crumbs && props.crumbs.length > 0 && (
        <nav aria-label="Breadcrumb" className="crumbs">
          <ol>
            {props.crumbs.map((crumb, i) => (
              <li key={i}>
                {crumb.to ? <Link to={crumb.to}>{crumb.label}</Link> : <span>{crumb.label}</span>}
              </li>
            ))}
          </ol>
        </nav>
      )}
      <div className="page-head">
        <h1>{props.title}</h1>
        {props.actions && <div className="actions">{props.actions}</div>}
      </div>
      {props.children}
    </>
  );
}
