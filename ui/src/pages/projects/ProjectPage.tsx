import { type FormEvent, type ReactNode, useState } from 'react';
import type { ProjectView, RegionView } from '../../../../src/core/api/projects-schemas.ts';
import { ApiError, get, type Page as ApiPage } from '../../api/client.ts';
import { useLoad } from '../../api/use-load.ts';
import { EmptyState } from '../../components/EmptyState.tsx';
import { ErrorBox } from '../../components/ErrorBox.tsx';
import { Page } from '../../components/Page.tsx';
import { Link, navigate, path } from '../../router.tsx';
import { projectApi, regionPage } from '../secrets/secret-paths.ts';

/** A project: its features and the regions to open its instances in. */
export function ProjectPage(props: { readonly projectId: string }): ReactNode {
  const { projectId } = props;
  const project = useLoad(`project ${projectId}`, (signal) =>
    get<ProjectView>(projectApi(projectId), undefined, signal),
  );
  const regions = useLoad('regions', (signal) =>
    get<ApiPage<RegionView>>('/v2/regions', { pageSize: 1000 }, signal),
  );
  const name = project.data?.displayName || projectId;
  const regionsRefused = regions.error instanceof ApiError && regions.error.status === 403;

  return (
    <Page title={name} crumbs={[{ label: 'Projects', to: '/projects' }, { label: name }]}>
      <ErrorBox error={project.error} />
      {project.data && (
        <dl className="meta">
          <dt>Id</dt>
          <dd className="mono">{project.data.id}</dd>
          <dt>Features</dt>
          <dd>
            Secrets Manager {project.data.features.secrets ? 'on' : 'off'}, KMS{' '}
            {project.data.features.kms ? 'on' : 'off'}
          </dd>
          <dt>Created</dt>
          <dd>{new Date(project.data.createTime).toLocaleString()}</dd>
        </dl>
      )}
      <p className="actions">
        <Link to={`${path('projects', projectId)}/kms`}>KMS keys</Link>
        <Link to={`${path('projects', projectId)}/iam`}>IAM</Link>
        <Link to={`${path('projects', projectId)}/audit`}>Audit log</Link>
      </p>
      <h2>Regions</h2>
      <p className="muted">
        Secrets Manager instances live in a region. Open a region to see and create its instances.
      </p>
      {regions.loading && <p aria-live="polite">Loading regions…</p>}
      {regionsRefused ? <OpenRegion projectId={projectId} /> : <ErrorBox error={regions.error} />}
      {regions.data && regions.data.items.length === 0 && (
        <EmptyState title="This server offers no region.">
          <p>Regions come from the server's configuration (regions in the config file).</p>
        </EmptyState>
      )}
      {regions.data && regions.data.items.length > 0 && (
        <ul className="link-list">
          {regions.data.items.map((region) => (
            <li key={region.id}>
              <Link to={regionPage(projectId, region.id)}>{region.id}</Link>
              {region.kms ? <span className="badge">kms</span> : <span className="badge">no kms</span>}
            </li>
          ))}
        </ul>
      )}
    </Page>
  );
}

/** When the caller may not list regions: open one by its id. */
function OpenRegion(props: { readonly projectId: string }): ReactNode {
  const [region, setRegion] = useState('');
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (region.trim()) navigate(regionPage(props.projectId, region.trim()));
  };
  return (
    <form className="row" onSubmit={submit}>
      <p className="muted">You may not list the server's regions; open one by its id.</p>
      <label>
        Region id
        <input value={region} onChange={(e) => setRegion(e.target.value)} required />
      </label>
      <button type="submit">Open region</button>
    </form>
  );
}
