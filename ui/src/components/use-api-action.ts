import { useState } from 'react';

/** The state of one API action started by a form or a button (see `useApiAction`). */
export interface ApiAction {
  /** Whether the action is running (its button is disabled). */
  readonly busy: boolean;
  /** The last action's error, shown with `ErrorBox`; null when there is none. */
  readonly error: unknown;
  readonly setError: (error: unknown) => void;
  /**
   * Runs `action` with `busy` set and the last error cleared; a thrown error is kept in `error`
   * (after `onError`, which resets what the failed action leaves stale). `busy` ends either way.
   */
  readonly run: (action: () => Promise<void>, onError?: () => void) => Promise<void>;
}

/** Busy and error state for an API action that can be run again (save, verify, confirm…). */
export function useApiAction(): ApiAction {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = async (action: () => Promise<void>, onError?: () => void) => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (err) {
      onError?.();
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, setError, run };
}
