import type { ReactNode } from 'react';
import type { KeyView } from '../../../../src/core/api/kms-schemas.ts';
import type { InstanceView } from '../../../../src/core/api/secrets-schemas.ts';
import { ApiError, get, seg } from '../../api/client.ts';
import { useLoad } from '../../api/use-load.ts';
import { usePermissions } from '../../api/use-permissions.ts';
import { ErrorBox } from '../../components/ErrorBox.tsx';
import { KeyStateBanner, keyPagePath } from '../../components/KeyStateBanner.tsx';
import { Page } from '../../components/Page.tsx';
import { PolicyTable } from '../../components/PolicyTable.tsx';
import { Link } from '../../router.tsx';
import { type InstancePlace, instanceApi, projectPage, regionPage, when } from './secret-paths.ts';
import { SecretsList } from './SecretsList.tsx';

type KmsKey = NonNullable<InstanceView['kmsKey']>;

/** The resource name of an instance's kmsKey. */
function keyName(k: KmsKey): string {
  return `projects/${k.projectId}/regions/${k.regionId}/keyrings/${k.keyRingId}/keys/${k.keyId}`;
}

/** An instance: its key (with seed 000's warning when not active), its secrets, its IAM policy. */
export function InstancePage(props: InstancePlace): ReactNode {
  const place = props;
  const base = instanceApi(place);
  const instance = useLoad(`instance ${base}`, (signal) => get<InstanceView>(base, undefined, signal));
  const kmsKey = instance.data?.kmsKey ?? null;
  const key = useLoad(`instance-key ${kmsKey ? keyName(kmsKey) : ''}`, (signal) =>
    kmsKey
      ? get<KeyView>(
          `/v2/projects/${seg(kmsKey.projectId)}/regions/${seg(kmsKey.regionId)}/keyrings/${seg(kmsKey.keyRingId)}/keys/${seg(kmsKey.keyId)}`,
          undefined,
          signal,
        )
      : Promise.resolve(null),
  );
  const can = usePermissions(base, ['secrets.secrets.create', 'secrets.secrets.list', 'iam.policies.get']);
  const name = instance.data?.name ?? place.instanceId;
  const keyRefused = key.error instanceof ApiError && (key.error.status === 403 || key.error.status === 404);
  // A caller given only some secrets of the instance may not read the instance itself.
  const instanceRefused = instance.error instanceof ApiError && instance.error.status === 403;

  return (
    <Page
      title={`Instance ${name}`}
      crumbs={[
        { label: 'Projects', to: '/projects' },
        { label: place.projectId, to: projectPage(place.projectId) },
        { label: place.regionId, to: regionPage(place.projectId, place.regionId) },
        { label: name },
      ]}
    >
      {instanceRefused ? (
        <p className="muted">You may not read this instance's settings.</p>
      ) : (
        <ErrorBox error={instance.error} />
      )}
      {kmsKey && key.data && (
        <KeyStateBanner state={key.data.state} keyName={keyName(kmsKey)} subject="This instance" />
      )}
      {instance.data && (
        <dl className="meta">
          <dt>Id</dt>
          <dd className="mono">{instance.data.id}</dd>
          <dt>KMS key</dt>
          <dd>
            {kmsKey ? (
              <>
                <Link to={keyPagePath(keyName(kmsKey)) ?? '/'}>{keyName(kmsKey)}</Link> version{' '}
                {kmsKey.keyVersion}
                {key.data && (
                  <>
                    {' '}
                    <span className={`badge ${key.data.state === 'active' ? 'ok' : 'bad'}`}>
                      {key.data.state.replaceAll('_', ' ')}
                    </span>
                  </>
                )}
                {keyRefused && <span className="muted"> (state unknown: you may not read this key)</span>}
                <br />
                <span className="small">runs as {kmsKey.serviceAccountEmail}</span>
              </>
            ) : (
              'none: values are protected by the root key'
            )}
          </dd>
          <dt>Created</dt>
          <dd>{when(instance.data.createTime)}</dd>
          <dt>Updated</dt>
          <dd>{when(instance.data.updateTime)}</dd>
        </dl>
      )}
      {!keyRefused && <ErrorBox error={key.error} title="The instance's key could not be read" />}
      {can.known && (instance.data || instanceRefused) && (
        <SecretsList
          place={place}
          canList={can.has('secrets.secrets.list')}
          canCreate={can.has('secrets.secrets.create')}
        />
      )}
      {instance.data && can.has('iam.policies.get') && (
        <PolicyTable resourcePath={base} title="Instance IAM policy" />
      )}
    </Page>
  );
}
