import { type ReactNode, useEffect, useSyncExternalStore } from 'react';
import { ErrorBoundary } from './components/ErrorBoundary.tsx';
import { Layout } from './components/Layout.tsx';
import { SignInPage } from './pages/SignInPage.tsx';
import { NotFoundPage } from './pages/NotFoundPage.tsx';
import { navigate, Router, usePlace } from './router.tsx';
import { routes } from './routes.tsx';
import { getSession, lastEndReason, subscribeSession } from './session.ts';

/** The console: the sign-in page while signed out (any 401 signs out), else the routed pages. */
export function App(): ReactNode {
  const session = useSyncExternalStore(subscribeSession, getSession);
  const place = usePlace();

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
        <Router routes={routes} fallback={<NotFoundPage />} />
      </ErrorBoundary>
    </Layout>
  );
}
