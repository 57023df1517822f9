import { type ReactNode, useState } from 'react';
import type { InstanceView } from '../../../../src/core/api/secrets-schemas.ts';
import { get, type Page as ApiPage } from '../../api/client.ts';
import { useLoad } from '../../api/use-load.ts';
import { usePermissions } from '../../api/use-permissions.ts';
import { OpenFormButton } from '../../components/CreateForm.tsx';
import { DataTable } from '../../components/DataTable.tsx';
import { EmptyState } from '../../components/EmptyState.tsx';
import { LoadStatus } from '../../components/LoadStatus.tsx';
import { Page } from '../../components/Page.tsx';
import { Pager, usePager } from '../../components/Pager.tsx';
import { Link } from '../../router.tsx';
import { CreateInstance } from './CreateInstance.tsx';
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
          <OpenFormButton open={creating} onOpen={() => setCreating(true)}>
            Create instance
          </OpenFormButton>
        )
      }
    >
      {creating && (
        <CreateInstance projectId={projectId} regionId={regionId} onCancel={() => setCreating(false)} />
      )}
      <LoadStatus load={list} what="instances" />
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
        <DataTable caption="Instances" columns={['Name', 'Id', 'KMS key', 'Created']}>
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
        </DataTable>
      )}
      <Pager pager={pager} next={list.data?.nextPageToken} label="Instances pages" />
    </Page>
  );
}
