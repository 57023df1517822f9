import { type ReactNode, useState } from 'react';
import type { KeyRingView } from '../../../../src/core/api/kms-schemas.ts';
import { api, get, type Page as ApiPage } from '../../api/client.ts';
import { useLoad } from '../../api/use-load.ts';
import { usePermissions } from '../../api/use-permissions.ts';
import { CreateForm, OpenFormButton } from '../../components/CreateForm.tsx';
import { DataTable } from '../../components/DataTable.tsx';
import { EmptyState } from '../../components/EmptyState.tsx';
import { LoadStatus } from '../../components/LoadStatus.tsx';
import { Page } from '../../components/Page.tsx';
import { Pager, usePager } from '../../components/Pager.tsx';
import { Link, navigate, path } from '../../router.tsx';
import { keyRingPage, regionApi, when } from './kms-paths.ts';

/** A project's KMS: pick a region, see and create its key rings. */
export function KmsPage(props: { readonly projectId: string }): ReactNode {
  const { projectId } = props;
  const regions = useLoad('regions', (signal) =>
    get<ApiPage<{ id: string; kms: boolean }>>('/v2/regions', { pageSize: 100 }, signal),
  );
  const kmsRegions = (regions.data?.items ?? []).filter((r) => r.kms);
  const [chosen, setChosen] = useState<string | null>(null);
  const regionId = chosen ?? kmsRegions[0]?.id ?? null;
  return (
    <Page
      title="KMS key rings"
      crumbs={[
        { label: 'Projects', to: '/projects' },
        { label: projectId, to: path('projects', projectId) },
        { label: 'KMS' },
      ]}
    >
      <LoadStatus load={regions} what="regions" />
      {regions.data && kmsRegions.length === 0 && (
        <EmptyState title="No region offers KMS on this server.">
          <p>Ask the operator to enable KMS in a region (server configuration).</p>
        </EmptyState>
      )}
      {kmsRegions.length > 1 && (
        <label className="narrow">
          Region
          <select value={regionId ?? ''} onChange={(e) => setChosen(e.target.value)}>
            {kmsRegions.map((r) => (
              <option key={r.id} value={r.id}>
                {r.id}
              </option>
            ))}
          </select>
        </label>
      )}
      {regionId && <KeyRings key={regionId} projectId={projectId} regionId={regionId} />}
    </Page>
  );
}

function KeyRings(props: { readonly projectId: string; readonly regionId: string }): ReactNode {
  const { projectId, regionId } = props;
  const base = regionApi(projectId, regionId);
  const pager = usePager();
  const list = useLoad(`keyrings ${base} ${pager.token ?? ''}`, (signal) =>
    get<ApiPage<KeyRingView>>(`${base}/keyrings`, { pageSize: 50, pageToken: pager.token }, signal),
  );
  const can = usePermissions(`/v2/projects/${encodeURIComponent(projectId)}`, ['kms.key_rings.create']);
  const [creating, setCreating] = useState(false);
  return (
    <section className="stack" aria-labelledby="keyrings-title">
      <div className="page-head">
        <h2 id="keyrings-title">Key rings in {regionId}</h2>
        {can.has('kms.key_rings.create') && (
          <div className="actions">
            <OpenFormButton open={creating} onOpen={() => setCreating(true)}>
              Create key ring
            </OpenFormButton>
          </div>
        )}
      </div>
      {creating && (
        <CreateKeyRing projectId={projectId} regionId={regionId} onCancel={() => setCreating(false)} />
      )}
      <LoadStatus load={list} what="key rings" />
      {list.data && list.data.items.length === 0 && !pager.token && (
        <EmptyState title="No key rings in this region yet.">
          {can.has('kms.key_rings.create') ? (
            <p>Create a key ring, then keys in it to encrypt secrets or data.</p>
          ) : (
            <p>
              You can see no key ring here. Ask a KMS admin for kms.key_rings.list or a key ring of your own.
            </p>
          )}
        </EmptyState>
      )}
      {list.data && list.data.items.length > 0 && (
        <DataTable caption="Key rings" columns={['Key ring', 'Id', 'Description', 'Created']}>
          {list.data.items.map((ring) => (
            <tr key={ring.id}>
              <td>
                <Link to={keyRingPage({ projectId, regionId, keyRingId: ring.id })}>{ring.displayName}</Link>
              </td>
              <td className="mono">{ring.id}</td>
              <td>{ring.description || <span className="muted">—</span>}</td>
              <td>{when(ring.createTime)}</td>
            </tr>
          ))}
        </DataTable>
      )}
      <Pager pager={pager} next={list.data?.nextPageToken} label="Key ring pages" />
    </section>
  );
}

function CreateKeyRing(props: {
  readonly projectId: string;
  readonly regionId: string;
  readonly onCancel: () => void;
}): ReactNode {
  const [displayName, setDisplayName] = useState('');
  const [description, setDescription] = useState('');
  const submit = async () => {
    const ring = await api<KeyRingView>('POST', `${regionApi(props.projectId, props.regionId)}/keyrings`, {
      body: {
        displayName: displayName.trim(),
        ...(description.trim() ? { description: description.trim() } : {}),
      },
    });
    navigate(keyRingPage({ projectId: props.projectId, regionId: props.regionId, keyRingId: ring.id }));
  };
  return (
    <CreateForm
      titleId="create-keyring-title"
      title="Create a key ring"
      level={3}
      submitLabel="Create key ring"
      onSubmit={submit}
      onCancel={props.onCancel}
    >
      <label>
        Display name
        <input
          value={displayName}
          required
          maxLength={200}
          onChange={(e) => setDisplayName(e.target.value)}
        />
      </label>
      <label>
        Description (optional)
        <input value={description} maxLength={1000} onChange={(e) => setDescription(e.target.value)} />
      </label>
    </CreateForm>
  );
}
