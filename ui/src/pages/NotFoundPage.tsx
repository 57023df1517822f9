import type { ReactNode } from 'react';
import { EmptyState } from '../components/EmptyState.tsx';
import { Page } from '../components/Page.tsx';
import { Link } from '../router.tsx';

/** An unknown console path. */
export function NotFoundPage(): ReactNode {
  return (
    <Page title="Page not found">
      <EmptyState title="The console has no page at this address.">
        <p>
          Go to the <Link to="/projects">projects</Link>.
        </p>
      </EmptyState>
    </Page>
  );
}
