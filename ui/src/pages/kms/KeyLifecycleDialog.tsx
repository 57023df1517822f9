import { type FormEvent, type ReactNode, useEffect, useId, useRef, useState } from 'react';
import type { KeyView } from '../../../../src/core/api/kms-schemas.ts';
import { api, get } from '../../api/client.ts';
import { useLoad } from '../../api/use-load.ts';
import { ErrorBox } from '../../components/ErrorBox.tsx';
import { Link } from '../../router.tsx';
import { resourcePage } from './kms-paths.ts';

/** The key actions that can break what depends on the key. */
export type GuardedAction = 'disable' | 'schedule-deletion';

/** `GET …/dependents`: the names the caller may read and the counts of all. */
interface Dependents {
  readonly secrets: string[];
  readonly instances: string[];
  readonly secretCount: number;
  readonly instanceCount: number;
}

function DependentList(props: {
  readonly title: string;
  readonly names: readonly string[];
  readonly count: number;
}): ReactNode {
  const hidden = props.count - props.names.length;
  return (
    <>
      <h3>
        {props.title} ({props.count})
      </h3>
      {props.count === 0 ? (
        <p className="muted">None.</p>
      ) : (
        <ul className="plain dependents">
          {props.names.map((name) => {
            const to = resourcePage(name);
            return (
              <li key={name}>{to ? <Link to={to}>{name}</Link> : <span className="mono">{name}</span>}</li>
            );
          })}
          {hidden > 0 && <li className="muted">and {hidden} more you may not read</li>}
        </ul>
      )}
    </>
  );
}

/**
 * Disable or schedule-deletion of a key, in three steps: the dependents (secrets and instances whose
 * values stop working) are shown first; the user types the key's slug or id; only then, when there
 * are dependents, is `force` offered, and the action runs only with it ticked. The API refuses a
 * key with dependents without `force` anyway: these steps make the consequence visible.
 */
export function KeyLifecycleDialog(props: {
  readonly action: GuardedAction;
  readonly keyApiPath: string;
  /** What the user types to confirm: the key's slug, else its id (unique in the ring; a display name is not). */
  readonly keyLabel: string;
  readonly onDone: () => void;
  readonly onCancel: () => void;
}): ReactNode {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const typedId = useId();
  const dependents = useLoad(`dependents ${props.keyApiPath}`, (signal) =>
    get<Dependents>(`${props.keyApiPath}/dependents`, undefined, signal),
  );
  const [typed, setTyped] = useState('');
  const [force, setForce] = useState(false);
  const [days, setDays] = useState('30');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);

  const d = dependents.data;
  const count = d ? d.secretCount + d.instanceCount : 0;
  const typedOk = typed === props.keyLabel;
  // Force is offered only once the dependents are known and the confirmation is typed; retyping hides it again.
  const forceOffered = d !== undefined && typedOk && count > 0;
  const ready = d !== undefined && typedOk && (count === 0 || force) && !busy;
  const verb = props.action === 'disable' ? 'Disable key' : 'Schedule key deletion';

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!ready) return;
    setBusy(true);
    setError(null);
    try {
      await api<KeyView>('POST', `${props.keyApiPath}/${props.action}`, {
        query: count > 0 ? { force: true } : {},
        body: props.action === 'schedule-deletion' ? { pendingWindowDays: Number(days) } : {},
      });
      props.onDone();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      className="dialog wide"
      onCancel={(event) => {
        event.preventDefault();
        props.onCancel();
      }}
    >
      <form onSubmit={submit} className="stack">
        <h2 id={titleId}>{verb}</h2>
        <p>
          {props.action === 'disable'
            ? 'While the key is disabled, reading or writing the value of every secret and instance below fails with 400 (seed 000), and nothing can be encrypted or decrypted with it.'
            : 'The key becomes unusable at once and is destroyed (crypto-shredded) when the window ends: every value it protects is then lost for good. Until then the deletion can be cancelled.'}
        </p>
        <section aria-labelledby={`${titleId}-deps`} aria-busy={dependents.loading}>
          <h3 id={`${titleId}-deps`} className="sr-only">
            What depends on this key
          </h3>
          <ErrorBox error={dependents.error} title="The dependents could not be read" />
          {dependents.loading && (
            <p aria-live="polite">Looking for secrets and instances that use this key…</p>
          )}
          {d && (
            <div data-testid="key-dependents">
              <p>
                <strong>
                  {count === 0
                    ? 'No secret or instance uses this key.'
                    : `${d.secretCount} secret(s) and ${d.instanceCount} instance(s) use this key.`}
                </strong>
              </p>
              <DependentList title="Secrets" names={d.secrets} count={d.secretCount} />
              <DependentList title="Instances" names={d.instances} count={d.instanceCount} />
            </div>
          )}
        </section>
        {props.action === 'schedule-deletion' && (
          <label className="narrow">
            Days before destruction (7 to 30)
            <input
              type="number"
              min={7}
              max={30}
              required
              value={days}
              onChange={(e) => setDays(e.target.value)}
            />
          </label>
        )}
        {d && (
          <p>
            <label htmlFor={typedId}>
              Type <code>{props.keyLabel}</code> to confirm
            </label>
            <input
              id={typedId}
              value={typed}
              autoComplete="off"
              spellCheck={false}
              onChange={(event) => {
                setTyped(event.target.value);
                setForce(false);
              }}
            />
          </p>
        )}
        {forceOffered && (
          <label className="inline force">
            <input type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} />
            Force: {props.action === 'disable' ? 'disable' : 'schedule the deletion of'} this key although{' '}
            {count} secret(s) or instance(s) depend on it
          </label>
        )}
        <ErrorBox error={error} />
        <div className="actions">
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
          <button type="submit" className="danger" disabled={!ready}>
            {busy ? 'Working…' : verb}
          </button>
        </div>
      </form>
    </dialog>
  );
}
