import { type ReactNode, useState } from 'react';

/** Server-side paging state: the page tokens walked so far (the API pages forward only). */
export interface PagerState {
  /** The token of the page shown (undefined for the first). */
  readonly token: string | undefined;
  /** 1-based number of the page shown. */
  readonly number: number;
  readonly next: (token: string) => void;
  readonly previous: () => void;
  readonly reset: () => void;
}

/** Paging by page tokens with a back stack. */
export function usePager(): PagerState {
  const [stack, setStack] = useState<readonly (string | undefined)[]>([undefined]);
  return {
    token: stack[stack.length - 1],
    number: stack.length,
    next: (token) => setStack((s) => [...s, token]),
    previous: () => setStack((s) => (s.length > 1 ? s.slice(0, -1) : s)),
    reset: () => setStack([undefined]),
  };
}

/** Previous / next buttons for a token-paged list. */
export function Pager(props: {
  readonly pager: PagerState;
  readonly next: string | undefined;
  readonly label: string;
}): ReactNode {
  const { pager, next } = props;
  if (pager.number === 1 && !next) return null;
  return (
    <nav aria-label={props.label} className="actions pager">
      <button type="button" onClick={pager.previous} disabled={pager.number === 1}>
        Previous page
      </button>
      <span>Page {pager.number}</span>
      <button type="button" onClick={() => next && pager.next(next)} disabled={!next}>
        Next page
      </button>
    </nav>
  );
}
