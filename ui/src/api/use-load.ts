import { useCallback, useEffect, useRef, useState } from 'react';

/** A loading call's state. */
export interface Loaded<T> {
  readonly data: T | undefined;
  readonly error: unknown;
  readonly loading: boolean;
  /** Runs the call again (after a change); the old data stays shown until the new answer. */
  readonly reload: () => void;
}

interface Answer<T> {
  readonly key: string;
  readonly generation: number;
  readonly data: T | undefined;
  readonly error: unknown;
}

/**
 * Runs `load` when the component mounts and whenever `key` changes (a string naming what is loaded);
 * a newer run aborts the older one, so a slow answer never overwrites a newer one.
 */
export function useLoad<T>(key: string, load: (signal: AbortSignal) => Promise<T>): Loaded<T> {
  const [answer, setAnswer] = useState<Answer<T> | null>(null);
  const [generation, setGeneration] = useState(0);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  // The caller's function changes every render; the key says when it means something new.
  const loader = useRef(load);
  useEffect(() => {
    loader.current = load;
  });

  useEffect(() => {
    const controller = new AbortController();
    loader
      .current(controller.signal)
      .then((data) => {
        if (!controller.signal.aborted) setAnswer({ key, generation, data, error: null });
      })
      .catch((error: unknown) => {
        if (!controller.signal.aborted) setAnswer({ key, generation, data: undefined, error });
      });
    return () => controller.abort();
  }, [key, generation]);

  const sameKey = answer?.key === key;
  return {
    data: sameKey ? answer.data : undefined,
    error: sameKey && answer.generation === generation ? answer.error : null,
    loading: !sameKey || answer.generation !== generation,
    reload,
  };
}
