import { type FormEvent, type ReactNode, useEffect, useId, useRef, useState } from 'react';
import { ErrorBox } from './ErrorBox.tsx';
import { useApiAction } from './use-api-action.ts';

/** Props of ConfirmDialog. */
export interface ConfirmDialogProps {
  /** Whether the dialog is shown (modal: focus stays inside, Escape cancels). */
  readonly open: boolean;
  readonly title: string;
  /** What will happen, shown above the buttons. */
  readonly children?: ReactNode;
  /** The confirm button's text ("Destroy version 3"). */
  readonly confirmLabel: string;
  /** A destructive action: the confirm button is styled as dangerous. */
  readonly danger?: boolean;
  /** When set, the user must type exactly this before confirming (typed confirmation). */
  readonly typedConfirmation?: string;
  /** Runs the action; a rejection is shown in the dialog, a resolution closes it. */
  readonly onConfirm: () => Promise<void> | void;
  readonly onCancel: () => void;
}

/** A modal confirmation built on <dialog>, with an optional typed confirmation. */
export function ConfirmDialog(props: ConfirmDialogProps): ReactNode {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const inputId = useId();
  const [typed, setTyped] = useState('');
  const { busy, error, setError, run } = useApiAction();
  const { open } = props;

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) {
      setTyped('');
      setError(null);
      dialog.showModal();
    } else if (!open && dialog.open) dialog.close();
  }, [open, setError]);

  const canConfirm = !busy && (props.typedConfirmation === undefined || typed === props.typedConfirmation);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!canConfirm) return;
    await run(async () => {
      await props.onConfirm();
    });
  };

  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      className="dialog"
      onCancel={(event) => {
        event.preventDefault();
        props.onCancel();
      }}
    >
      <form onSubmit={submit}>
        <h2 id={titleId}>{props.title}</h2>
        {props.children}
        {props.typedConfirmation !== undefined && (
          <p>
            <label htmlFor={inputId}>
              Type <code>{props.typedConfirmation}</code> to confirm
            </label>
            <input
              id={inputId}
              value={typed}
              autoComplete="off"
              spellCheck={false}
              onChange={(event) => setTyped(event.target.value)}
            />
          </p>
        )}
        <ErrorBox error={error} />
        <div className="actions">
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
          <button type="submit" className={props.danger ? 'danger' : 'primary'} disabled={!canConfirm}>
            {busy ? 'Working…' : props.confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
