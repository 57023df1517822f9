import { type FormEvent, type ReactNode, useId, useState } from 'react';
import type { SecretView } from '../../../../src/core/api/secrets-schemas.ts';
import { api } from '../../api/client.ts';
import { ConfirmDialog } from '../../components/ConfirmDialog.tsx';
import { ErrorBox } from '../../components/ErrorBox.tsx';
import { useApiAction } from '../../components/use-api-action.ts';
import { navigate } from '../../router.tsx';
import { type InstancePlace, instancePage, parseLabels } from './secret-paths.ts';

function labelsText(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

/** An RFC 3339 time as a `datetime-local` value (local time, minutes). */
function toLocalInput(timestamp: string | null): string {
  if (!timestamp) return '';
  const d = new Date(timestamp);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/**
 * Changing a secret's labels and expiry (PATCH with the etag read, so a concurrent change is a
 * conflict, not lost), deleting it with a recovery window (typed confirmation), restoring it.
 */
export function SecretSettings(props: {
  readonly base: string;
  readonly place: InstancePlace;
  readonly secret: SecretView;
  readonly canUpdate: boolean;
  readonly canDelete: boolean;
  readonly canRestore: boolean;
  readonly onChanged: () => void;
}): ReactNode {
  const { secret } = props;
  const headingId = useId();
  const [labels, setLabels] = useState(labelsText(secret.labels));
  const [expiry, setExpiry] = useState(toLocalInput(secret.expireTime));
  const { busy, error, setError, run } = useApiAction();
  const [saved, setSaved] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [windowDays, setWindowDays] = useState('7');

  const save = async (event: FormEvent) => {
    event.preventDefault();
    setSaved(false);
    await run(async () => {
      await api('PATCH', props.base, {
        body: {
          labels: parseLabels(labels),
          expireTime: expiry ? new Date(expiry).toISOString() : null,
          etag: secret.etag,
        },
      });
      setSaved(true);
      props.onChanged();
    });
  };
  const restore = async () => {
    setError(null);
    try {
      await api('POST', `${props.base}/restore`);
      props.onChanged();
    } catch (err) {
      setError(err);
    }
  };

  if (!props.canUpdate && !props.canDelete && !(props.canRestore && secret.deleteTime)) return null;
  return (
    <section className="card stack" aria-labelledby={headingId}>
      <h2 id={headingId}>Settings</h2>
      {props.canUpdate && (
        <form className="stack" onSubmit={save}>
          <label>
            Labels (key=value, space-separated)
            <input value={labels} spellCheck={false} onChange={(e) => setLabels(e.target.value)} />
          </label>
          <label>
            Expires at (empty: never)
            <input type="datetime-local" value={expiry} onChange={(e) => setExpiry(e.target.value)} />
          </label>
          <div className="actions">
            <button type="submit" className="primary" disabled={busy}>
              Save settings
            </button>
            {saved && <span role="status">Saved.</span>}
          </div>
        </form>
      )}
      <ErrorBox error={error} />
      <div className="actions">
        {props.canRestore && secret.deleteTime && (
          <button type="button" onClick={restore}>
            Restore secret
          </button>
        )}
        {props.canDelete && !secret.deleteTime && (
          <button type="button" className="danger" onClick={() => setDeleting(true)}>
            Delete secret
          </button>
        )}
      </div>
      <ConfirmDialog
        open={deleting}
        title={`Delete secret ${secret.path}?`}
        confirmLabel="Delete secret"
        danger
        typedConfirmation={secret.path}
        onCancel={() => setDeleting(false)}
        onConfirm={async () => {
          const days = Number(windowDays);
          await api('DELETE', props.base, { query: { recoveryWindowDays: days } });
          setDeleting(false);
          if (days === 0) navigate(instancePage(props.place));
          else props.onChanged();
        }}
      >
        <p>
          Reads fail at once. Within the recovery window the secret can be restored; after it, it is purged.
        </p>
        <label>
          Recovery window (days, 0 purges now)
          <input
            type="number"
            min={0}
            max={30}
            value={windowDays}
            onChange={(e) => setWindowDays(e.target.value)}
          />
        </label>
      </ConfirmDialog>
    </section>
  );
}
