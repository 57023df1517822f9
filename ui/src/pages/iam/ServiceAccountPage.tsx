import { type FormEvent, type ReactNode, useEffect, useState } from 'react';
import type { ServiceAccountView } from '../../../../src/core/api/iam-schemas.ts';
import type { ServiceAccountKeyView } from '../../../../src/core/api/service-account-key-schemas.ts';
import { api, get, type Page as ApiPage, seg } from '../../api/client.ts';
import { useLoad } from '../../api/use-load.ts';
import { usePermissions } from '../../api/use-permissions.ts';
import { ConfirmDialog } from '../../components/ConfirmDialog.tsx';
import { DataTable } from '../../components/DataTable.tsx';
import { EmptyState } from '../../components/EmptyState.tsx';
import { EnabledBadge } from '../../components/EnabledBadge.tsx';
import { ErrorBox } from '../../components/ErrorBox.tsx';
import { Page } from '../../components/Page.tsx';
import { PolicyTable } from '../../components/PolicyTable.tsx';
import { useApiAction } from '../../components/use-api-action.ts';
import { path } from '../../router.tsx';
import { when } from '../kms/kms-paths.ts';

interface TokenInfo {
  readonly id: string;
  readonly createTime: string;
  readonly expireTime: string | null;
}

const saPermissions = [
  'iam.service_accounts.disable',
  'iam.service_accounts.enable',
  'iam.service_account_tokens.create',
  'iam.service_account_tokens.list',
  'iam.service_account_tokens.delete',
  'iam.service_account_keys.create',
  'iam.service_account_keys.list',
  'iam.service_account_keys.disable',
  'iam.service_account_keys.enable',
  'iam.service_account_keys.delete',
];

/** A credential shown once (a token or a key file): copy it now, it is never shown again. */
function ShownOnce(props: {
  readonly label: string;
  readonly value: string;
  readonly onDone: () => void;
}): ReactNode {
  const { onDone } = props;
  // Leaving the page forgets it first: the back/forward cache never shows a credential again.
  useEffect(() => {
    window.addEventListener('pagehide', onDone);
    return () => window.removeEventListener('pagehide', onDone);
  }, [onDone]);
  return (
    <div className="banner info stack" role="status">
      <p>
        <strong>{props.label}</strong>: copy it now. Coffer does not keep it and will not show it again.
      </p>
      <label>
        {props.label}
        <textarea
          readOnly
          rows={props.value.length > 200 ? 8 : 2}
          value={props.value}
          spellCheck={false}
          autoComplete="off"
        />
      </label>
      <div className="actions">
        <button type="button" onClick={props.onDone}>
          I have copied it
        </button>
      </div>
    </div>
  );
}

/** One service account: enable/disable, tokens, keys and who may act as it (its IAM policy). */
export function ServiceAccountPage(props: { readonly projectId: string; readonly email: string }): ReactNode {
  const saApi = `/v2/projects/${seg(props.projectId)}/service-accounts/${seg(props.email)}`;
  const sa = useLoad(`sa ${saApi}`, (signal) => get<ServiceAccountView>(saApi, undefined, signal));
  const can = usePermissions(saApi, saPermissions);
  const [confirm, setConfirm] = useState<'disable' | 'enable' | null>(null);
  const account = sa.data;
  return (
    <Page
      title={`Service account ${props.email}`}
      crumbs={[
        { label: 'Projects', to: '/projects' },
        { label: props.projectId, to: path('projects', props.projectId) },
        { label: 'IAM', to: path('projects', props.projectId, 'iam') },
        { label: props.email },
      ]}
      actions={
        account &&
        (account.disabled
          ? can.has('iam.service_accounts.enable') && (
              <button type="button" className="primary" onClick={() => setConfirm('enable')}>
                Enable
              </button>
            )
          : can.has('iam.service_accounts.disable') && (
              <button type="button" className="danger" onClick={() => setConfirm('disable')}>
                Disable
              </button>
            ))
      }
    >
      <ErrorBox error={sa.error} />
      {account && (
        <dl className="meta">
          <dt>Email</dt>
          <dd className="mono">{account.email}</dd>
          <dt>Display name</dt>
          <dd>{account.displayName || '—'}</dd>
          <dt>State</dt>
          <dd>
            <EnabledBadge disabled={account.disabled} />
          </dd>
          <dt>Created</dt>
          <dd>{when(account.createTime)}</dd>
        </dl>
      )}
      {confirm && (
        <ConfirmDialog
          open
          danger={confirm === 'disable'}
          title={confirm === 'disable' ? 'Disable the service account' : 'Enable the service account'}
          confirmLabel={confirm === 'disable' ? 'Disable' : 'Enable'}
          onCancel={() => setConfirm(null)}
          onConfirm={async () => {
            await api('POST', `${saApi}/${confirm}`);
            setConfirm(null);
            sa.reload();
          }}
        >
          <p>
            {confirm === 'disable'
              ? 'Its tokens and keys stop working at once, until it is enabled again.'
              : 'Its unexpired tokens and enabled keys work again.'}
          </p>
        </ConfirmDialog>
      )}
      {can.known && <Tokens saApi={saApi} can={can} />}
      {can.known && <Keys saApi={saApi} can={can} />}
      <PolicyTable resourcePath={saApi} title="Who may act as this account (IAM policy)" />
    </Page>
  );
}

function Tokens(props: { readonly saApi: string; readonly can: { has(p: string): boolean } }): ReactNode {
  const listable = props.can.has('iam.service_account_tokens.list');
  const list = useLoad(`tokens ${props.saApi} ${listable}`, (signal) =>
    listable ? get<ApiPage<TokenInfo>>(`${props.saApi}/tokens`, undefined, signal) : Promise.resolve(null),
  );
  const [ttlHours, setTtlHours] = useState('1');
  const [issued, setIssued] = useState<string | null>(null);
  const [revoking, setRevoking] = useState<string | null>(null);
  const { error, run } = useApiAction();
  const issue = async (event: FormEvent) => {
    event.preventDefault();
    await run(async () => {
      const hours = Number(ttlHours);
      const answer = await api<{ token: string }>('POST', `${props.saApi}/tokens`, {
        body: hours > 0 ? { ttl: `${Math.round(hours * 3600)}s` } : {},
      });
      setIssued(answer.token);
      list.reload();
    });
  };
  return (
    <section className="stack" aria-labelledby="tokens-title">
      <h2 id="tokens-title">Tokens</h2>
      {props.can.has('iam.service_account_tokens.create') && (
        <form className="row" onSubmit={issue}>
          <label className="narrow">
            Lifetime in hours
            <input
              type="number"
              min={0.1}
              step="any"
              value={ttlHours}
              onChange={(e) => setTtlHours(e.target.value)}
            />
          </label>
          <button type="submit">Create token</button>
        </form>
      )}
      {issued && <ShownOnce label="New token" value={issued} onDone={() => setIssued(null)} />}
      <ErrorBox error={error ?? list.error} />
      {!listable && <p className="muted">You may not list this account's tokens.</p>}
      {list.data && list.data.items.length === 0 && <EmptyState title="No tokens." />}
      {list.data && list.data.items.length > 0 && (
        <DataTable caption="Tokens (metadata only)" columns={['Id', 'Created', 'Expires', 'Actions']}>
          {list.data.items.map((t) => (
            <tr key={t.id}>
              <td className="mono">{t.id}</td>
              <td>{when(t.createTime)}</td>
              <td>{t.expireTime ? when(t.expireTime) : 'never'}</td>
              <td>
                {props.can.has('iam.service_account_tokens.delete') && (
                  <button
                    type="button"
                    className="link"
                    aria-label={`Revoke token ${t.id}`}
                    onClick={() => setRevoking(t.id)}
                  >
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </DataTable>
      )}
      {revoking && (
        <ConfirmDialog
          open
          danger
          title="Revoke the token"
          confirmLabel="Revoke"
          onCancel={() => setRevoking(null)}
          onConfirm={async () => {
            await api('DELETE', `${props.saApi}/tokens/${seg(revoking)}`);
            setRevoking(null);
            list.reload();
          }}
        >
          <p>Programs using it are refused from now on.</p>
        </ConfirmDialog>
      )}
    </section>
  );
}

function Keys(props: { readonly saApi: string; readonly can: { has(p: string): boolean } }): ReactNode {
  const listable = props.can.has('iam.service_account_keys.list');
  const list = useLoad(`sakeys ${props.saApi} ${listable}`, (signal) =>
    listable
      ? get<ApiPage<ServiceAccountKeyView>>(`${props.saApi}/keys`, { pageSize: 100 }, signal)
      : Promise.resolve(null),
  );
  const [algorithm, setAlgorithm] = useState('RS256');
  const [keyFile, setKeyFile] = useState<string | null>(null);
  const [acting, setActing] = useState<{ keyId: string; action: 'disable' | 'enable' | 'delete' } | null>(
    null,
  );
  const { error, run } = useApiAction();
  const create = async (event: FormEvent) => {
    event.preventDefault();
    await run(async () => {
      const file = await api<unknown>('POST', `${props.saApi}/keys`, { body: { algorithm } });
      setKeyFile(JSON.stringify(file, null, 2));
      list.reload();
    });
  };
  return (
    <section className="stack" aria-labelledby="sakeys-title">
      <h2 id="sakeys-title">Keys</h2>
      {props.can.has('iam.service_account_keys.create') && (
        <form className="row" onSubmit={create}>
          <label className="narrow">
            Algorithm
            <select value={algorithm} onChange={(e) => setAlgorithm(e.target.value)}>
              <option value="RS256">RS256 (RSA-2048)</option>
              <option value="ES256">ES256 (P-256)</option>
              <option value="EdDSA">EdDSA (Ed25519)</option>
            </select>
          </label>
          <button type="submit">Create key</button>
        </form>
      )}
      {keyFile && <ShownOnce label="Key file (JSON)" value={keyFile} onDone={() => setKeyFile(null)} />}
      <ErrorBox error={error ?? list.error} />
      {!listable && <p className="muted">You may not list this account's keys.</p>}
      {list.data && list.data.items.length === 0 && (
        <EmptyState title="No keys.">
          <p>
            A key file lets a program sign in as this account (POST /v2/auth/token) without a long-lived
            token.
          </p>
        </EmptyState>
      )}
      {list.data && list.data.items.length > 0 && (
        <DataTable
          caption="Service account keys"
          columns={['Key id', 'Algorithm', 'State', 'Expires', 'Actions']}
        >
          {list.data.items.map((k) => (
            <tr key={k.keyId}>
              <td className="mono">{k.keyId}</td>
              <td>{k.algorithm}</td>
              <td>
                <EnabledBadge disabled={k.disabled} />
              </td>
              <td>{k.expireTime ? when(k.expireTime) : 'never'}</td>
              <td>
                {(['disable', 'enable', 'delete'] as const)
                  .filter((a) => props.can.has(`iam.service_account_keys.${a}`))
                  .filter((a) => (a === 'disable' ? !k.disabled : a === 'enable' ? k.disabled : true))
                  .map((a) => (
                    <button
                      key={a}
                      type="button"
                      className="link"
                      aria-label={`${a} key ${k.keyId}`}
                      onClick={() => setActing({ keyId: k.keyId, action: a })}
                    >
                      {a}
                    </button>
                  ))}
              </td>
            </tr>
          ))}
        </DataTable>
      )}
      {acting && (
        <ConfirmDialog
          open
          danger={acting.action !== 'enable'}
          title={`${acting.action === 'delete' ? 'Delete' : acting.action === 'disable' ? 'Disable' : 'Enable'} key ${acting.keyId}`}
          confirmLabel={
            acting.action === 'delete' ? 'Delete' : acting.action === 'disable' ? 'Disable' : 'Enable'
          }
          onCancel={() => setActing(null)}
          onConfirm={async () => {
            const keyPath = `${props.saApi}/keys/${seg(acting.keyId)}`;
            if (acting.action === 'delete') await api('DELETE', keyPath);
            else await api('POST', `${keyPath}/${acting.action}`);
            setActing(null);
            list.reload();
          }}
        >
          <p>
            {acting.action === 'enable'
              ? 'Programs holding the key file can sign in with it again.'
              : 'Programs holding the key file can no longer sign in with it.'}
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}
