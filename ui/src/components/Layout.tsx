import { type ReactNode, useState } from 'react';
import { Link, navigate, usePlace } from '../router.tsx';
import { signOutAndRevoke } from '../api/client.ts';
import type { Session } from '../session.ts';
import { applyTheme, currentTheme, type Theme } from '../theme.ts';

function NavLink(props: {
  readonly to: string;
  readonly children: ReactNode;
  readonly exact?: boolean;
}): ReactNode {
  const place = usePlace();
  const active = props.exact
    ? place.path === props.to
    : place.path === props.to || place.path.startsWith(`${props.to}/`);
  return (
    <Link to={props.to} {...(active ? { 'aria-current': 'page' as const } : {})}>
      {props.children}
    </Link>
  );
}

/** The project named by the current URL (`/projects/{id}/…`), if any. */
function currentProject(path: string): string | null {
  const m = /^\/projects\/([^/]+)/.exec(path);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return null;
  }
}

/** The page frame: header (brand, who, theme, sign-out), navigation, and the main landmark. */
export function Layout(props: { readonly session: Session; readonly children: ReactNode }): ReactNode {
  const place = usePlace();
  const [theme, setTheme] = useState<Theme>(currentTheme);
  const project = currentProject(place.path);
  const p = project ? `/projects/${encodeURIComponent(project)}` : null;
  const toggle = () => {
    const next = theme === 'dark' ? 'light' : 'dark';
    applyTheme(next, true);
    setTheme(next);
  };
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/projects" className="brand">
          Coffer
        </Link>
        <span className="muted small who">Signed in as {props.session.who}</span>
        <button type="button" onClick={toggle} aria-pressed={theme === 'dark'}>
          Dark theme
        </button>
        <button
          type="button"
          onClick={() => {
            signOutAndRevoke();
            navigate('/signin', { replace: true });
          }}
        >
          Sign out
        </button>
      </header>
      <div className="frame">
        <nav aria-label="Main" className="sidenav">
          <ul>
            <li>
              <NavLink to="/projects" exact>
                Projects
              </NavLink>
            </li>
          </ul>
          {p && (
            <>
              <p className="nav-heading" id="nav-project">
                Project <span className="mono">{project}</span>
              </p>
              <ul aria-labelledby="nav-project">
                <li>
                  <NavLink to={`${p}/regions`}>Secrets</NavLink>
                </li>
                <li>
                  <NavLink to={`${p}/kms`}>KMS</NavLink>
                </li>
                <li>
                  <NavLink to={`${p}/iam`}>IAM</NavLink>
                </li>
                <li>
                  <NavLink to={`${p}/audit`}>Audit</NavLink>
                </li>
              </ul>
            </>
          )}
        </nav>
        <main id="main" tabIndex={-1}>
          {props.children}
        </main>
      </div>
    </>
  );
}
