import { type FormEvent, type ReactNode, useState } from 'react';
import type { KeyRingView } from '../../../../src/core/api/kms-schemas.ts';
import { api, get, type Page as ApiPage } from '../../api/client.ts';
import { useLoad } from '../../api/use-load.ts';
import { usePermissions } from '../../api/use-permissions.ts';
import { EmptyState } from '../../components/EmptyState.tsx';
import { ErrorBox } from '../../components/ErrorBox.tsx';
import { Page } from '../../components/Page.tsx';
import { Pager, usePager } from '../../components/Pager.tsx';
import { Link, navigate, path } from '../../router.tsx';
import '../../components/console-pages.css';
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
      <ErrorBox error={regions.error} />
      {regions.loading && <p aria-live="polite">Loading regions…</p>}
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
            <button
              type="button"
              className="primary"
              onClick={() => setCreating(true)}
              aria-expanded={creating}
            >
              Create key ring
            </button>
          </div>
        )}
      </div>
      {creating && (
        <CreateKeyRing projectId={projectId} regionId={regionId} onCancel={() => setCreating(false)} />
      )}
      <ErrorBox error={list.error} />
      {list.loading && <p aria-live="polite">Loading key rings…</p>}
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
        <div className="table-wrap">
          <table>
            <caption className="sr-only">Key rings</caption>
            <thead>
              <tr>
                <th scope="col">Key ring</th>
                <th scope="col">Id</th>
                <th scope="col">Description</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((ring) => (
                <tr key={ring.id}>
                  <td>
                    <Link to={keyRingPage({ projectId, regionId, keyRingId: ring.id })}>
                      {ring.displayName}
                    </Link>
                  </td>
                  <td className="mono">{ring.id}</td>
                  <td>{ring.description || <span className="muted">—</span>}</td>
                  <td>{when(ring.createTime)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
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
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const ring = await api<KeyRingView>('POST', `${regionApi(props.projectId, props.regionId)}/keyrings`, {
        body: {
          displayName: displayName.trim(),
          ...(description.trim() ? { description: description.trim() } : {}),
        },
      });
      navigate(keyRingPage({ projectId: props.projectId, regionId: props.regionId, keyRingId: ring.id }));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <form className="card stack" onSubmit={submit} aria-labelledby="create-keyring-title">
      <h3 id="create-keyring-title">Create a key ring</h3>
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
      <ErrorBox error={error} />
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          Create key ring
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
