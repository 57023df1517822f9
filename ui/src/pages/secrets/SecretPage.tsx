import type { Static } from '@sinclair/typebox';
import { type ReactNode, useState } from 'react';
import type { SecretVersionView, SecretView } from '../../../../src/core/api/secrets-schemas.ts';
import { ApiError, get, type Page as ApiPage } from '../../api/client.ts';
import { useLoad } from '../../api/use-load.ts';
import { usePermissions } from '../../api/use-permissions.ts';
import { ErrorBox } from '../../components/ErrorBox.tsx';
import { KeyStateBanner, keyPagePath } from '../../components/KeyStateBanner.tsx';
import { Page } from '../../components/Page.tsx';
import { PolicyTable } from '../../components/PolicyTable.tsx';
import { Link } from '../../router.tsx';
import { instancePage, projectPage, regionPage, type SecretPlace, secretApi, when } from './secret-paths.ts';
import { RevealPanel } from './RevealPanel.tsx';
import { SecretSettings } from './SecretSettings.tsx';
import { AddVersion, MoveStage } from './VersionActions.tsx';
import { VersionsTable } from './VersionsTable.tsx';

/** A version as the API lists it. */
export type Version = Static<typeof SecretVersionView>;

/** Permissions the secret page asks about in its one "test my permissions" call. */
const asked = [
  'secrets.secrets.get',
  'secrets.get_value',
  'secrets.put_value',
  'secrets.versions.list',
  'secrets.versions.enable',
  'secrets.versions.disable',
  'secrets.versions.destroy',
  'secrets.stages.update',
  'secrets.secrets.update',
  'secrets.secrets.delete',
  'secrets.secrets.restore',
  'iam.policies.get',
] as const;

function Labels(props: { readonly map: Readonly<Record<string, string>> }): ReactNode {
  const entries = Object.entries(props.map);
  if (entries.length === 0) return <span className="muted">none</span>;
  return entries.map(([k, v]) => (
    <span key={k} className="badge">
      {k}={v}
    </span>
  ));
}

/** A secret: metadata, key binding and state, versions and their actions, its IAM policy. */
export function SecretPage(props: SecretPlace): ReactNode {
  const place = props;
  const base = secretApi(place);
  const secret = useLoad(`secret ${base}`, (signal) => get<SecretView>(base, undefined, signal));
  const can = usePermissions(base, asked);
  const canVersions = can.known && can.has('secrets.versions.list');
  const versions = useLoad(`versions ${base} ${canVersions}`, (signal) =>
    canVersions ? get<ApiPage<Version>>(`${base}/versions`, undefined, signal) : Promise.resolve(null),
  );
  const reload = () => {
    secret.reload();
    versions.reload();
  };
  const s = secret.data;
  const keyLink = keyPagePath(s?.kmsKey.identity);
  const metadataRefused = secret.error instanceof ApiError && secret.error.status === 403;

  return (
    <Page
      title={`Secret ${place.secret}`}
      crumbs={[
        { label: 'Projects', to: '/projects' },
        { label: place.projectId, to: projectPage(place.projectId) },
        { label: place.regionId, to: regionPage(place.projectId, place.regionId) },
        { label: place.instanceId, to: instancePage(place) },
        { label: place.secret },
      ]}
    >
      {metadataRefused ? (
        <ValuesOnly
          base={base}
          canReveal={can.has('secrets.get_value')}
          canAdd={can.has('secrets.put_value')}
        />
      ) : (
        <ErrorBox error={secret.error} />
      )}
      {s && <KeyStateBanner state={s.kmsKey.status} keyName={s.kmsKey.identity} subject="This secret" />}
      {s && (
        <>
          <dl className="meta">
            <dt>Name</dt>
            <dd className="mono">{s.name}</dd>
            <dt>KMS key</dt>
            <dd>
              {s.kmsKey.identity ? (
                keyLink ? (
                  <Link to={keyLink}>{s.kmsKey.identity}</Link>
                ) : (
                  <span className="mono">{s.kmsKey.identity}</span>
                )
              ) : (
                'none: protected by the root key'
              )}{' '}
              <span className={`badge ${s.kmsKey.status === 'active' ? 'ok' : 'bad'}`}>
                {s.kmsKey.status.replaceAll('_', ' ')}
              </span>
            </dd>
            <dt>Labels</dt>
            <dd>
              <Labels map={s.labels} />
            </dd>
            <dt>Annotations</dt>
            <dd>
              <Labels map={s.annotations} />
            </dd>
            <dt>Latest version</dt>
            <dd>{s.latestVersion}</dd>
            <dt>Expires</dt>
            <dd>{s.expireTime ? when(s.expireTime) : 'never'}</dd>
            <dt>Rotation</dt>
            <dd>
              {s.rotation ? (
                <>
                  {s.rotation.period ? `every ${s.rotation.period}` : 'no schedule'}
                  {s.rotation.nextRotationTime && `, next ${when(s.rotation.nextRotationTime)}`}
                  {s.rotation.rotator && `, rotator ${s.rotation.rotator.type}`}
                </>
              ) : (
                'none'
              )}
              <RotationStatus status={s.rotationStatus} />
            </dd>
            {s.deleteTime && (
              <>
                <dt>Deletion</dt>
                <dd>pending, purged at {when(s.deleteTime)}</dd>
              </>
            )}
            <dt>Created</dt>
            <dd>{when(s.createTime)}</dd>
            <dt>Updated</dt>
            <dd>{when(s.updateTime)}</dd>
          </dl>
          <h2>Versions</h2>
          <ErrorBox error={versions.error} />
          {can.known && !canVersions && <p className="muted">You may not list this secret's versions.</p>}
          {versions.data && (
            <VersionsTable
              base={base}
              versions={versions.data.items}
              canReveal={can.has('secrets.get_value')}
              canEnable={can.has('secrets.versions.enable')}
              canDisable={can.has('secrets.versions.disable')}
              canDestroy={can.has('secrets.versions.destroy')}
              onChanged={reload}
            />
          )}
          {can.has('secrets.put_value') && <AddVersion base={base} onAdded={reload} />}
          {can.has('secrets.stages.update') && versions.data && (
            <MoveStage base={base} versions={versions.data.items} onMoved={reload} />
          )}
          <SecretSettings
            base={base}
            place={place}
            secret={s}
            canUpdate={can.has('secrets.secrets.update')}
            canDelete={can.has('secrets.secrets.delete')}
            canRestore={can.has('secrets.secrets.restore')}
            onChanged={reload}
          />
          {can.has('iam.policies.get') && <PolicyTable resourcePath={base} title="Secret IAM policy" />}
        </>
      )}
    </Page>
  );
}

function RotationStatus(props: { readonly status: SecretView['rotationStatus'] }): ReactNode {
  const status = props.status;
  if (!status) return null;
  return (
    <span className="small">
      {' '}
      (rotation {status.state.replaceAll('_', ' ')}
      {status.lastSuccessTime && `, last rotated ${when(status.lastSuccessTime)}`}
      {status.lastFailure && `, last failure ${when(status.lastFailure.time)}: ${status.lastFailure.message}`}
      )
    </span>
  );
}

/**
 * A caller who may read or add values but not read metadata (`secretAccessor`,
 * `secretVersionAdder`): the latest value on click, adding a version; nothing else is shown.
 */
function ValuesOnly(props: {
  readonly base: string;
  readonly canReveal: boolean;
  readonly canAdd: boolean;
}): ReactNode {
  const [revealed, setRevealed] = useState(false);
  return (
    <>
      <p className="muted">You may not read this secret's metadata or versions.</p>
      {props.canReveal && (
        <p>
          <button type="button" aria-pressed={revealed} onClick={() => setRevealed(!revealed)}>
            {revealed ? 'Hide latest value' : 'Reveal latest value'}
          </button>
        </p>
      )}
      {revealed && <RevealPanel base={props.base} version="latest" onHide={() => setRevealed(false)} />}
      {props.canAdd && <AddVersion base={props.base} onAdded={() => undefined} />}
    </>
  );
}
