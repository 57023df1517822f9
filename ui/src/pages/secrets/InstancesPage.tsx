import { type FormEvent, type ReactNode, useState } from 'react';
import type { InstanceView } from '../../../../src/core/api/secrets-schemas.ts';
import { api, get, type Page as ApiPage } from '../../api/client.ts';
import { useLoad } from '../../api/use-load.ts';
import { usePermissions } from '../../api/use-permissions.ts';
import { EmptyState } from '../../components/EmptyState.tsx';
import { ErrorBox } from '../../components/ErrorBox.tsx';
import { Page } from '../../components/Page.tsx';
import { Pager, usePager } from '../../components/Pager.tsx';
import { Link, navigate } from '../../router.tsx';
import { instancePage, instancesApi, projectApi, projectPage, when } from './secret-paths.ts';

/** A region's Secrets Manager instances: list and create. */
export function InstancesPage(props: { readonly projectId: string; readonly regionId: string }): ReactNode {
  const { projectId, regionId } = props;
  const pager = usePager();
  const list = useLoad(`instances ${projectId} ${regionId} ${pager.token ?? ''}`, (signal) =>
    get<ApiPage<InstanceView>>(
      instancesApi(projectId, regionId),
      { pageSize: 50, pageToken: pager.token },
      signal,
    ),
  );
  // Instances take no policy of a region: the project's bindings decide.
  const can = usePermissions(projectApi(projectId), ['secrets.instances.create']);
  const [creating, setCreating] = useState(false);

  return (
    <Page
      title={`Instances in ${regionId}`}
      crumbs={[
        { label: 'Projects', to: '/projects' },
        { label: projectId, to: projectPage(projectId) },
        { label: regionId },
      ]}
      actions={
        can.has('secrets.instances.create') && (
          <button
            type="button"
            className="primary"
            onClick={() => setCreating(true)}
            aria-expanded={creating}
          >
            Create instance
          </button>
        )
      }
    >
      {creating && (
        <CreateInstance projectId={projectId} regionId={regionId} onCancel={() => setCreating(false)} />
      )}
      <ErrorBox error={list.error} />
      {list.loading && <p aria-live="polite">Loading instances…</p>}
      {list.data && list.data.items.length === 0 && !pager.token && (
        <EmptyState title="No instance in this region yet.">
          {can.has('secrets.instances.create') ? (
            <p>
              Create an instance to hold secrets; give it a KMS key to encrypt them with, or none for root
              protection.
            </p>
          ) : (
            <p>You can see no instance here. Ask an administrator for access to one.</p>
          )}
        </EmptyState>
      )}
      {list.data && list.data.items.length > 0 && (
        <div className="table-wrap">
          <table>
            <caption className="sr-only">Instances</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Id</th>
                <th scope="col">KMS key</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((instance) => (
                <tr key={instance.id}>
                  <td>
                    <Link to={instancePage({ projectId, regionId, instanceId: instance.id })}>
                      {instance.name}
                    </Link>
                  </td>
                  <td className="mono">{instance.id}</td>
                  <td className="mono">
                    {instance.kmsKey
                      ? `${instance.kmsKey.keyRingId}/${instance.kmsKey.keyId} v${instance.kmsKey.keyVersion}`
                      : 'none (root protection)'}
                  </td>
                  <td>{when(instance.createTime)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager pager={pager} next={list.data?.nextPageToken} label="Instances pages" />
    </Page>
  );
}

function CreateInstance(props: {
  readonly projectId: string;
  readonly regionId: string;
  readonly onCancel: () => void;
}): ReactNode {
  const [name, setName] = useState('');
  const [withKey, setWithKey] = useState(false);
  const [keyRingId, setKeyRingId] = useState('');
  const [keyId, setKeyId] = useState('');
  const [keyVersion, setKeyVersion] = useState('1');
  const [serviceAccountEmail, setServiceAccountEmail] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const kmsKey = withKey
        ? {
            projectId: props.projectId,
            regionId: props.regionId,
            keyRingId: keyRingId.trim(),
            keyId: keyId.trim(),
            keyVersion: Number(keyVersion),
            serviceAccountEmail: serviceAccountEmail.trim(),
          }
        : null;
      const instance = await api<InstanceView>('POST', instancesApi(props.projectId, props.regionId), {
        body: { name: name.trim(), kmsKey },
      });
      navigate(
        instancePage({ projectId: props.projectId, regionId: props.regionId, instanceId: instance.id }),
      );
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <form className="card stack" onSubmit={submit} aria-labelledby="create-instance-title">
      <h2 id="create-instance-title">Create an instance</h2>
      <label>
        Name
        <input value={name} required maxLength={200} onChange={(e) => setName(e.target.value)} />
      </label>
      <label className="inline">
        <input type="checkbox" checked={withKey} onChange={(e) => setWithKey(e.target.checked)} />
        Encrypt its secrets with a KMS key of this project and region
      </label>
      {withKey && (
        <fieldset className="stack">
          <legend>KMS key</legend>
          <label>
            Key ring id
            <input value={keyRingId} required onChange={(e) => setKeyRingId(e.target.value)} />
          </label>
          <label>
            Key id
            <input value={keyId} required onChange={(e) => setKeyId(e.target.value)} />
          </label>
          <label>
            Key version
            <input
              type="number"
              min={1}
              value={keyVersion}
              required
              onChange={(e) => setKeyVersion(e.target.value)}
            />
          </label>
          <label>
            Service account email (the identity KMS calls run as)
            <input
              type="email"
              value={serviceAccountEmail}
              required
              onChange={(e) => setServiceAccountEmail(e.target.value)}
            />
          </label>
        </fieldset>
      )}
      <ErrorBox error={error} />
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          Create
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
