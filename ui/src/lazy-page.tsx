/**
 * Code splitting: each page area (projects, secrets, KMS, IAM, audit; areas.ts) is a chunk of its
 * own, fetched when a route of it is first shown or earlier when preloaded (the current route's area
 * by main.tsx before React's first render, the first pages of a session while the sign-in page is
 * idle).
 */
import { type ComponentType, lazy, type ReactNode, useState } from 'react';

/** A page of a lazily loaded area: a component that renders it (suspending until it is loaded). */
export function lazyPage<M, P extends object>(
  load: () => Promise<M>,
  pick: (area: M) => ComponentType<P>,
): ComponentType<P> {
  // Set when the chunk has arrived: a page mounted after that renders at once (no Suspense
  // fallback for one frame), which is what preloading is for.
  let loaded: ComponentType<P> | undefined;
  const get = () =>
    load().then(
      (area) => {
        loaded = pick(area);
        return { default: loaded };
      },
      (err: unknown) => {
        throw new ChunkLoadError(err);
      },
    );
  const Lazy = lazy(get);
  function LazyPage(props: P): ReactNode {
    // Chosen once per mount: switching from Lazy to the loaded component later would remount the page.
    const [Component] = useState<ComponentType<P>>(() => loaded ?? Lazy);
    return <Component {...props} />;
  }
  return LazyPage;
}

/** A page's code could not be fetched: said in the console's words, with what to do. */
export class ChunkLoadError extends Error {
  override readonly name = 'ChunkLoadError';
  constructor(cause: unknown) {
    super(
      'This page’s code could not be loaded (the server was updated or is unreachable). Reload the page.',
      {
        cause,
      },
    );
  }
}

/** Runs `task` when the browser is idle (or after a short delay where it has no idle callback). */
export function whenIdle(task: () => void): void {
  if (typeof window.requestIdleCallback === 'function') window.requestIdleCallback(task, { timeout: 2000 });
  else setTimeout(task, 200);
}
