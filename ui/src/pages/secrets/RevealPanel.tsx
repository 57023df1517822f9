import { type ReactNode, useEffect, useId, useRef, useState } from 'react';
import { api } from '../../api/client.ts';
import { ErrorBox } from '../../components/ErrorBox.tsx';

/** How long a revealed value stays shown, and a copied one in the clipboard. */
export const revealMs = 30_000;

interface Shown {
  /** The value as text, when it is UTF-8. */
  readonly text?: string;
  /** Base64 of a binary value that is not UTF-8 text. */
  readonly base64?: string;
  readonly bytes: number;
}

function decode(answer: { value?: string; binaryValue?: string }): Shown {
  if (answer.value !== undefined)
    return { text: answer.value, bytes: new TextEncoder().encode(answer.value).length };
  const b64 = answer.binaryValue ?? '';
  const binary = atob(b64);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), bytes: bytes.length };
  } catch {
    return { base64: b64, bytes: bytes.length };
  }
}

let clipboardTimer: ReturnType<typeof setTimeout> | undefined;

/** Empties the clipboard after 30 s, where the browser allows it (it may refuse without focus). */
function clearClipboardLater(): void {
  clearTimeout(clipboardTimer);
  clipboardTimer = setTimeout(() => {
    try {
      void navigator.clipboard?.writeText('').catch(() => undefined);
    } catch {
      // not allowed here
    }
  }, revealMs);
}

/**
 * One version's value: fetched when this panel mounts (the user clicked Reveal on that version;
 * every reveal is an audited GET …/value), held only in this component's state (no cache, no
 * storage), masked after 30 s, when the tab is hidden, or when the panel unmounts (navigation).
 */
export function RevealPanel(props: {
  readonly base: string;
  /** A version number, or "latest" (the newest enabled version; its number is shown once read). */
  readonly version: number | 'latest';
  readonly onHide: () => void;
}): ReactNode {
  const { base, version, onHide } = props;
  const [shown, setShown] = useState<(Shown & { readonly version: number }) | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [copied, setCopied] = useState(false);
  const [left, setLeft] = useState(revealMs / 1000);
  const headingId = useId();
  const onHideRef = useRef(onHide);
  useEffect(() => {
    onHideRef.current = onHide;
  });

  useEffect(() => {
    const controller = new AbortController();
    api<{ value?: string; binaryValue?: string; version: number }>('GET', `${base}/value`, {
      query: { version },
      signal: controller.signal,
    }).then(
      (answer) => setShown({ ...decode(answer), version: answer.version }),
      (err: unknown) => {
        if (!controller.signal.aborted) setError(err);
      },
    );
    return () => controller.abort();
  }, [base, version]);

  useEffect(() => {
    if (!shown) return;
    const started = Date.now();
    const tick = setInterval(() => {
      const remaining = Math.ceil((revealMs - (Date.now() - started)) / 1000);
      if (remaining <= 0) onHideRef.current();
      else setLeft(remaining);
    }, 1000);
    const hidden = () => {
      if (document.visibilityState === 'hidden') onHideRef.current();
    };
    document.addEventListener('visibilitychange', hidden);
    return () => {
      clearInterval(tick);
      document.removeEventListener('visibilitychange', hidden);
    };
  }, [shown]);

  const copy = async () => {
    const text = shown?.text ?? shown?.base64;
    if (text === undefined) return;
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      clearClipboardLater();
    } catch (err) {
      setError(err instanceof Error ? new Error('The browser refused the clipboard.') : err);
    }
  };

  return (
    <section className="card" aria-labelledby={headingId} data-testid="revealed-value">
      <h3 id={headingId}>
        Value of {version === 'latest' ? 'the latest version' : `version ${version}`}
        {version === 'latest' && shown && ` (${shown.version})`}
      </h3>
      <ErrorBox error={error} title="The value could not be read" />
      {!shown && !error && <p aria-live="polite">Reading the value…</p>}
      {shown && (
        <>
          <p className="small muted" aria-live="polite">
            {shown.bytes} bytes{shown.base64 !== undefined && ', binary, shown as base64'}. Hidden again in{' '}
            {left} s.
          </p>
          <pre className="secret-value" aria-label={`Value of version ${shown.version}`}>
            {shown.text ?? shown.base64}
          </pre>
          <div className="actions">
            <button type="button" onClick={copy}>
              Copy to clipboard
            </button>
            <button type="button" onClick={onHide}>
              Hide value
            </button>
            {copied && (
              <span role="status" className="small">
                Copied; the clipboard is cleared in 30 s where the browser allows.
              </span>
            )}
          </div>
        </>
      )}
    </section>
  );
}
