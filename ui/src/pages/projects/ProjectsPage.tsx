import { type ReactNode, useState } from 'react';
import type { ProjectView } from '../../../../src/core/api/projects-schemas.ts';
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
          <OpenFormButton open={creating} onOpen={() => setCreating(true)}>
            Create project
          </OpenFormButton>
        )
      }
    >
      {creating && <CreateProject onCancel={() => setCreating(false)} />}
      <LoadStatus load={list} what="projects" />
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
        <DataTable caption="Projects" columns={['Project', 'Id', 'Features', 'Created']}>
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
        </DataTable>
      )}
      <Pager pager={pager} next={list.data?.nextPageToken} label="Projects pages" />
    </Page>
  );
}

function CreateProject(props: { readonly onCancel: () => void }): ReactNode {
  const [displayName, setDisplayName] = useState('');
  const [secrets, setSecrets] = useState(true);
  const [kms, setKms] = useState(true);
  const submit = async () => {
    const project = await api<ProjectView>('POST', '/v2/projects', {
      body: { displayName: displayName.trim(), features: { secrets, kms } },
    });
    navigate(path('projects', project.id));
  };
  return (
    <CreateForm
      titleId="create-project-title"
      title="Create a project"
      level={2}
      onSubmit={submit}
      onCancel={props.onCancel}
    >
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
    </CreateForm>
  );
}
