import type { ReactNode } from 'react';
import { ApiError } from '../api/client.ts';

/** Shows a failed call: the API's message and request id (never a stack trace). */
export function ErrorBox(props: { readonly error: unknown; readonly title?: string }): ReactNode {
  const { error } = props;
  if (error === null || error === undefined) return null;
  const api = error instanceof ApiError ? error : null;
  // The API's message, or the console's own (a form's check); never a stack.
  const message = api
    ? api.message
    : error instanceof Error
      ? error.message
      : 'Something went wrong in the console.';
  return (
    <div className="error-box" role="alert">
      <p className="error-title">{props.title ?? 'The request failed'}</p>
      <p>{message}</p>
      {api && (
        <p className="muted small">
          {api.code !== 'unknown' && <>Code {api.code}. </>}
          {api.requestId && (
            <>
              Request id <code>{api.requestId}</code>
            </>
          )}
        </p>
      )}
    </div>
  );
}
