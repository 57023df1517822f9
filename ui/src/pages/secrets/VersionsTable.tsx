import { type ReactNode, useState } from 'react';
import { api } from '../../api/client.ts';
import { ConfirmDialog } from '../../components/ConfirmDialog.tsx';
import { DataTable } from '../../components/DataTable.tsx';
import { EmptyState } from '../../components/EmptyState.tsx';
import { ErrorBox } from '../../components/ErrorBox.tsx';
import { when } from './secret-paths.ts';
import type { Version } from './SecretPage.tsx';
import { RevealPanel } from './RevealPanel.tsx';

type Action = 'enable' | 'disable' | 'destroy';

const actionText: Record<Action, { title: string; body: string }> = {
  enable: { title: 'Enable version', body: 'Its value can be read again.' },
  disable: {
    title: 'Disable version',
    body: 'Reads of this version fail until it is enabled again; nothing is deleted.',
  },
  destroy: {
    title: 'Destroy version',
    body: 'Its value is erased for good. This cannot be undone.',
  },
};

/**
 * A secret's versions: state, stages, who created them; reveal (one version at a time, on click),
 * enable, disable and destroy (each confirmed; destroy by typing the version number).
 */
export function VersionsTable(props: {
  readonly base: string;
  readonly versions: readonly Version[];
  readonly canReveal: boolean;
  readonly canEnable: boolean;
  readonly canDisable: boolean;
  readonly canDestroy: boolean;
  readonly onChanged: () => void;
}): ReactNode {
  const [revealed, setRevealed] = useState<number | null>(null);
  const [pending, setPending] = useState<{ version: number; action: Action } | null>(null);
  const [error, setError] = useState<unknown>(null);

  // A version that leaves the enabled state (disabled, destroyed) is masked.
  const showing =
    revealed !== null && props.versions.find((v) => v.version === revealed)?.state === 'enabled'
      ? revealed
      : null;

  if (props.versions.length === 0)
    return (
      <EmptyState title="This secret has no version yet.">
        <p>Add a version below: its value is encrypted with the secret's key.</p>
      </EmptyState>
    );

  const run = async () => {
    if (!pending) return;
    await api('POST', `${props.base}/versions/${pending.version}/${pending.action}`);
    setPending(null);
    setError(null);
    props.onChanged();
  };
  const allowed: Record<Action, boolean> = {
    enable: props.canEnable,
    disable: props.canDisable,
    destroy: props.canDestroy,
  };

  return (
    <>
      <ErrorBox error={error} />
      <DataTable
        caption="Versions"
        columns={['Version', 'State', 'Stages', 'Created', 'Created by', 'Actions']}
      >
        {props.versions.map((v) => (
          <tr key={v.version}>
            <td>{v.version}</td>
            <td>
              <span className={`badge ${v.state === 'enabled' ? 'ok' : 'bad'}`}>{v.state}</span>
              {v.destroyTime && <span className="small"> {when(v.destroyTime)}</span>}
            </td>
            <td>
              {v.stages.length === 0 ? (
                <span className="muted">—</span>
              ) : (
                v.stages.map((stage) => (
                  <span key={stage} className="badge">
                    {stage}
                  </span>
                ))
              )}
            </td>
            <td>{when(v.createTime)}</td>
            <td className="small">{v.createdBy}</td>
            <td>
              <div className="actions">
                {props.canReveal && v.state === 'enabled' && (
                  <button
                    type="button"
                    aria-pressed={showing === v.version}
                    onClick={() => setRevealed(showing === v.version ? null : v.version)}
                  >
                    {showing === v.version ? 'Hide' : 'Reveal'}
                    <span className="sr-only"> version {v.version}</span>
                  </button>
                )}
                {(['enable', 'disable', 'destroy'] as const)
                  .filter((action) => allowed[action] && applies(action, v.state))
                  .map((action) => (
                    <button
                      key={action}
                      type="button"
                      className={action === 'destroy' ? 'danger' : ''}
                      onClick={() => setPending({ version: v.version, action })}
                    >
                      {action[0]!.toUpperCase() + action.slice(1)}
                      <span className="sr-only"> version {v.version}</span>
                    </button>
                  ))}
              </div>
            </td>
          </tr>
        ))}
      </DataTable>
      {showing !== null && (
        <RevealPanel key={showing} base={props.base} version={showing} onHide={() => setRevealed(null)} />
      )}
      <ConfirmDialog
        open={pending !== null}
        title={pending ? `${actionText[pending.action].title} ${pending.version}?` : ''}
        confirmLabel={pending ? `${actionText[pending.action].title} ${pending.version}` : ''}
        danger={pending?.action !== 'enable'}
        {...(pending?.action === 'destroy' ? { typedConfirmation: String(pending.version) } : {})}
        onConfirm={run}
        onCancel={() => setPending(null)}
      >
        <p>{pending ? actionText[pending.action].body : ''}</p>
      </ConfirmDialog>
    </>
  );
}

function applies(action: Action, state: string): boolean {
  if (state === 'destroyed') return false;
  if (action === 'enable') return state === 'disabled';
  if (action === 'disable') return state === 'enabled';
  return true;
}
