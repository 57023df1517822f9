import type { ReactNode } from 'react';
import type { Loaded } from '../api/use-load.ts';
import { ErrorBox } from './ErrorBox.tsx';

/** A loading call's error, and a polite `Loading <what>…` while it runs. */
export function LoadStatus(props: { readonly load: Loaded<unknown>; readonly what: string }): ReactNode {
  return (
    <>
      <ErrorBox error={props.load.error} />
      {props.load.loading && <p aria-live="polite">{`Loading ${props.what}…`}</p>}
    </>
  );
}
