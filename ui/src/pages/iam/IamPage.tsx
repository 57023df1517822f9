import { type ReactNode, useState } from 'react';
import type { ServiceAccountView } from '../../../../src/core/api/iam-schemas.ts';
import { api, get, type Page as ApiPage, seg } from '../../api/client.ts';
import { useLoad } from '../../api/use-load.ts';
import { usePermissions } from '../../api/use-permissions.ts';
import { CreateForm } from '../../components/CreateForm.tsx';
import { DataTable } from '../../components/DataTable.tsx';
import { EmptyState } from '../../components/EmptyState.tsx';
import { EnabledBadge } from '../../components/EnabledBadge.tsx';
import { ErrorBox } from '../../components/ErrorBox.tsx';
import { Page } from '../../components/Page.tsx';
import { Pager, usePager } from '../../components/Pager.tsx';
import { PolicyTable } from '../../components/PolicyTable.tsx';
import { Link, navigate, path } from '../../router.tsx';
import { when } from '../kms/kms-paths.ts';
import { TestPermissions } from './TestPermissions.tsx';

/** A project's IAM: its policy, "test my permissions", and its service accounts. */
export function IamPage(props: { readonly projectId: string }): ReactNode {
  const projectApi = `/v2/projects/${seg(props.projectId)}`;
  return (
    <Page
      title="IAM"
      crumbs={[
        { label: 'Projects', to: '/projects' },
        { label: props.projectId, to: path('projects', props.projectId) },
        { label: 'IAM' },
      ]}
    >
      <PolicyTable resourcePath={projectApi} title="IAM policy of the project" />
      <ServiceAccounts projectId={props.projectId} />
      <TestPermissions defaultResource={projectApi} />
    </Page>
  );
}

function ServiceAccounts(props: { readonly projectId: string }): ReactNode {
  const projectApi = `/v2/projects/${seg(props.projectId)}`;
  const can = usePermissions(projectApi, ['iam.service_accounts.list', 'iam.service_accounts.create']);
  const pager = usePager();
  const listable = can.has('iam.service_accounts.list');
  const list = useLoad(`sas ${projectApi} ${pager.token ?? ''} ${listable}`, (signal) =>
    listable
      ? get<ApiPage<ServiceAccountView>>(
          `${projectApi}/service-accounts`,
          { pageSize: 50, pageToken: pager.token },
          signal,
        )
      : Promise.resolve(null),
  );
  const [creating, setCreating] = useState(false);
  if (!can.known) return null;
  return (
    <section className="stack" aria-labelledby="sa-title">
      <div className="page-head">
        <h2 id="sa-title">Service accounts</h2>
        {can.has('iam.service_accounts.create') && (
          <div className="actions">
            <button type="button" onClick={() => setCreating(true)} aria-expanded={creating}>
              Create service account
            </button>
          </div>
        )}
      </div>
      {creating && <CreateServiceAccount projectId={props.projectId} onCancel={() => setCreating(false)} />}
      {!listable && (
        <p className="muted">You may not list this project's service accounts (iam.service_accounts.list).</p>
      )}
      <ErrorBox error={list.error} />
      {list.data && list.data.items.length === 0 && !pager.token && (
        <EmptyState title="No service accounts yet.">
          <p>
            A service account is an identity for a program: create one, grant it a role on the secrets or keys
            it needs, then give the program a token or a key file.
          </p>
        </EmptyState>
      )}
      {list.data && list.data.items.length > 0 && (
        <DataTable caption="Service accounts" columns={['Email', 'Display name', 'State', 'Created']}>
          {list.data.items.map((sa) => (
            <tr key={sa.email}>
              <td>
                <Link to={path('projects', props.projectId, 'iam', 'service-accounts', sa.email)}>
                  {sa.email}
                </Link>
              </td>
              <td>{sa.displayName || '—'}</td>
              <td>
                <EnabledBadge disabled={sa.disabled} />
              </td>
              <td>{when(sa.createTime)}</td>
            </tr>
          ))}
        </DataTable>
      )}
      <Pager pager={pager} next={list.data?.nextPageToken ?? undefined} label="Service account pages" />
    </section>
  );
}

function CreateServiceAccount(props: {
  readonly projectId: string;
  readonly onCancel: () => void;
}): ReactNode {
  const [name, setName] = useState('');
  const [displayName, setDisplayName] = useState('');
  const submit = async () => {
    const sa = await api<ServiceAccountView>(
      'POST',
      `/v2/projects/${seg(props.projectId)}/service-accounts`,
      {
        body: { name: name.trim(), ...(displayName.trim() ? { displayName: displayName.trim() } : {}) },
      },
    );
    navigate(path('projects', props.projectId, 'iam', 'service-accounts', sa.email));
  };
  return (
    <CreateForm
      titleId="create-sa-title"
      title="Create a service account"
      level={3}
      submitLabel="Create service account"
      onSubmit={submit}
      onCancel={props.onCancel}
    >
      <label>
        Name (6 to 30 characters; the email's first part)
        <input
          value={name}
          required
          minLength={6}
          maxLength={30}
          onChange={(e) => setName(e.target.value)}
          autoComplete="off"
        />
      </label>
      <label>
        Display name (optional)
        <input value={displayName} maxLength={100} onChange={(e) => setDisplayName(e.target.value)} />
      </label>
    </CreateForm>
  );
}
