import { type ReactNode, Suspense, useEffect, useSyncExternalStore } from 'react';
import { ErrorBoundary } from './components/ErrorBoundary.tsx';
import { Layout } from './components/Layout.tsx';
import { SignInPage } from './pages/SignInPage.tsx';
import { NotFoundPage } from './pages/NotFoundPage.tsx';
import { navigate, Router, usePlace } from './router.tsx';
import { type Area, areas, preload } from './areas.ts';
import { whenIdle } from './lazy-page.tsx';
import { routes } from './routes.tsx';
import { getSession, lastEndReason, subscribeSession } from './session.ts';

const allAreas = Object.keys(areas) as Area[];

/** The console: the sign-in page while signed out (any 401 signs out), else the routed pages. */
export function App(): ReactNode {
  const session = useSyncExternalStore(subscribeSession, getSession);
  const place = usePlace();

  // While the sign-in form waits for typing (the browser idle), fetch the pages a session starts
  // with, so the projects and the secrets lists render without waiting on their code. Signed in, the
  // current page's area was fetched by main.tsx; the other areas follow a few seconds later, when
  // the browser is idle, so that a first visit to them shows no "Loading the page…" either.
  const signedOut = session === null;
  useEffect(() => {
    if (signedOut) {
      whenIdle(() => {
        preload('projects');
        preload('secrets');
      });
      return undefined;
    }
    const timer = setTimeout(() => whenIdle(() => allAreas.forEach(preload)), 3000);
    return () => clearTimeout(timer);
  }, [signedOut]);

  useEffect(() => {
    if (session && (place.path === '/' || place.path === '/signin')) navigate('/projects', { replace: true });
  }, [session, place.path]);

  if (!session) {
    const ended = lastEndReason();
    const reason =
      ended === 'expired'
        ? 'Your session expired. Sign in again.'
        : ended === 'rejected'
          ? 'The server no longer accepts your session. Sign in again.'
          : undefined;
    return <SignInPage {...(reason ? { reason } : {})} />;
  }
  return (
    <Layout session={session}>
      {/* Keyed by path: a failed page does not stay failed after navigating away. */}
      <ErrorBoundary key={place.path}>
        {/* A page whose area's chunk is still on its way (lazy-page.tsx). */}
        <Suspense fallback={<p aria-live="polite">Loading the page…</p>}>
          <Router routes={routes} fallback={<NotFoundPage />} />
        </Suspense>
      </ErrorBoundary>
    </Layout>
  );
}
