import { type FormEvent, type ReactNode, useState } from 'react';
import type { ProjectView } from '../../../../src/core/api/projects-schemas.ts';
import { api, get, type Page as ApiPage } from '../../api/client.ts';
import { useLoad } from '../../api/use-load.ts';
import { usePermissions } from '../../api/use-permissions.ts';
import { EmptyState } from '../../components/EmptyState.tsx';
import { ErrorBox } from '../../components/ErrorBox.tsx';
import { Page } from '../../components/Page.tsx';
import { Pager, usePager } from '../../components/Pager.tsx';
import { Link, navigate, path } from '../../router.tsx';

/** Projects the caller can see, and creating one (when allowed). */
export function ProjectsPage(): ReactNode {
  const pager = usePager();
  const list = useLoad(`projects ${pager.token ?? ''}`, (signal) =>
    get<ApiPage<ProjectView>>('/v2/projects', { pageSize: 50, pageToken: pager.token }, signal),
  );
  const can = usePermissions('/v2', ['projects.create']);
  const [creating, setCreating] = useState(false);

  return (
    <Page
      title="Projects"
      actions={
        can.has('projects.create') && (
          <button
            type="button"
            className="primary"
            onClick={() => setCreating(true)}
            aria-expanded={creating}
          >
            Create project
          </button>
        )
      }
    >
      {creating && <CreateProject onCancel={() => setCreating(false)} />}
      <ErrorBox error={list.error} />
      {list.loading && <p aria-live="polite">Loading projects…</p>}
      {list.data && list.data.items.length === 0 && !pager.token && (
        <EmptyState title="No projects yet.">
          {can.has('projects.create') ? (
            <p>Create a project to hold instances, secrets and keys.</p>
          ) : (
            <p>You can see no project. Ask an administrator to grant you a role on one.</p>
          )}
        </EmptyState>
      )}
      {list.data && list.data.items.length > 0 && (
        <div className="table-wrap">
          <table>
            <caption className="sr-only">Projects</caption>
            <thead>
              <tr>
                <th scope="col">Project</th>
                <th scope="col">Id</th>
                <th scope="col">Features</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((project) => (
                <tr key={project.id}>
                  <td>
                    <Link to={path('projects', project.id)}>{project.displayName || project.id}</Link>
                  </td>
                  <td className="mono">{project.id}</td>
                  <td>
                    {project.features.secrets && <span className="badge">secrets</span>}
                    {project.features.kms && <span className="badge">kms</span>}
                  </td>
                  <td>{new Date(project.createTime).toLocaleString()}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager pager={pager} next={list.data?.nextPageToken} label="Projects pages" />
    </Page>
  );
}

function CreateProject(props: { readonly onCancel: () => void }): ReactNode {
  const [displayName, setDisplayName] = useState('');
  const [secrets, setSecrets] = useState(true);
  const [kms, setKms] = useState(true);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const project = await api<ProjectView>('POST', '/v2/projects', {
        body: { displayName: displayName.trim(), features: { secrets, kms } },
      });
      navigate(path('projects', project.id));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <form className="card stack" onSubmit={submit} aria-labelledby="create-project-title">
      <h2 id="create-project-title">Create a project</h2>
      <label>
        Display name
        <input value={displayName} maxLength={200} onChange={(e) => setDisplayName(e.target.value)} />
      </label>
      <fieldset>
        <legend>Features</legend>
        <label className="inline">
          <input type="checkbox" checked={secrets} onChange={(e) => setSecrets(e.target.checked)} />
          Secrets Manager
        </label>
        <label className="inline">
          <input type="checkbox" checked={kms} onChange={(e) => setKms(e.target.checked)} />
          KMS
        </label>
      </fieldset>
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
