import { type FormEvent, type ReactNode, useState } from 'react';
import { ErrorBox } from './ErrorBox.tsx';

/**
 * The card of a create form: its heading, the fields (children), the API error and the submit and
 * Cancel buttons. Submitting runs `onSubmit` with the submit button disabled; on success the button
 * stays disabled (the caller navigates away or closes the form), on failure the error shows and the
 * form can be sent again.
 */
export function CreateForm(props: {
  /** The heading's id, naming the form. */
  readonly titleId: string;
  readonly title: string;
  /** The heading's level: 2 on a page of its own, 3 inside a page's section. */
  readonly level: 2 | 3;
  /** The submit button's text (default `Create`). */
  readonly submitLabel?: string;
  readonly onSubmit: () => Promise<void>;
  readonly onCancel: () => void;
  readonly children: ReactNode;
}): ReactNode {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await props.onSubmit();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  const Heading = props.level === 2 ? 'h2' : 'h3';
  return (
    <form className="card stack" onSubmit={submit} aria-labelledby={props.titleId}>
      <Heading id={props.titleId}>{props.title}</Heading>
      {props.children}
      <ErrorBox error={error} />
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          {props.submitLabel ?? 'Create'}
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** The primary button that opens a create form; `aria-expanded` says whether it is open. */
export function OpenFormButton(props: {
  readonly open: boolean;
  readonly onOpen: () => void;
  readonly children: ReactNode;
}): ReactNode {
  return (
    <button type="button" className="primary" onClick={props.onOpen} aria-expanded={props.open}>
      {props.children}
    </button>
  );
}
