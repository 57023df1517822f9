/**
 * Code splitting: each page area (projects, secrets, KMS, IAM, audit; areas.ts) is a chunk of its
 * own, fetched when a route of it is first shown or earlier when preloaded (the current route's area
 * by main.tsx before React's first render, the first pages of a session while the sign-in page is
 * idle).
 */
import { type ComponentType, lazy, type ReactNode, useState } from 'react';
import type { Loader } from './areas.ts';

/**
 * A page of a lazily loaded area: a component that renders it, at once when the area has arrived
 * (preloaded), else suspending until it does. Rendering at once matters: React keeps a fallback it
 * has shown on screen for at least 300 ms, so a page that suspends even briefly shows late.
 */
export function lazyPage<M, P extends object>(
  load: Loader<M>,
  pick: (area: M) => ComponentType<P>,
): ComponentType<P> {
  const Lazy = lazy(() =>
    load().then(
      (area) => ({ default: pick(area) }),
      (err: unknown) => {
        throw new ChunkLoadError(err);
      },
    ),
  );
  function LazyPage(props: P): ReactNode {
    // Chosen once per mount: switching from Lazy to the loaded component later would remount the page.
    const [Component] = useState<ComponentType<P>>(() => {
      const area = load.loaded();
      return area === undefined ? Lazy : pick(area);
    });
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
