import { type ReactNode, Suspense, useEffect, useState } from 'react';
import type { KeyVersionView, KeyView } from '../../../../src/core/api/kms-schemas.ts';
import { api, get, type Page as ApiPage } from '../../api/client.ts';
import { useLoad } from '../../api/use-load.ts';
import { usePermissions } from '../../api/use-permissions.ts';
import { ConfirmDialog } from '../../components/ConfirmDialog.tsx';
import { DataTable } from '../../components/DataTable.tsx';
import { ErrorBox } from '../../components/ErrorBox.tsx';
import { KeyStateBanner } from '../../components/KeyStateBanner.tsx';
import { Page } from '../../components/Page.tsx';
import { Pager, usePager } from '../../components/Pager.tsx';
import { PolicyTable } from '../../components/PolicyTable.tsx';
import { once } from '../../areas.ts';
import { lazyPage } from '../../lazy-page.tsx';
import { path } from '../../router.tsx';
import { KeyLifecycleDialog, type GuardedAction } from './KeyLifecycleDialog.tsx';
import { type KeyPlace, keyApi, keyRingPage, period, when } from './kms-paths.ts';
import { KeyStateBadge } from './KeyStateBadge.tsx';

// The playground is a chunk of its own, fetched when a key's page mounts (while the key itself
// loads), so that an active key's page rarely waits for it.
const playground = once(() => import('./CryptoPlayground.tsx'));
const CryptoPlayground = lazyPage(playground, (m) => m.CryptoPlayground);

const keyPermissions = [
  'kms.keys.rotate',
  'kms.keys.enable',
  'kms.keys.disable',
  'kms.keys.schedule_deletion',
  'kms.keys.cancel_deletion',
  'kms.key_versions.list',
  'kms.key_versions.enable',
  'kms.key_versions.disable',
  'kms.key_versions.destroy',
  'kms.key_versions.restore',
  'kms.encrypt',
  'kms.decrypt',
  'kms.sign',
  'kms.verify',
  'kms.mac',
  'kms.verify_mac',
] as const;

/** One key: state (seed 000 banner), lifecycle actions, versions, a crypto playground, its IAM policy. */
export function KeyPage(props: KeyPlace): ReactNode {
  const apiPath = keyApi(props);
  const key = useLoad(`key ${apiPath}`, (signal) => get<KeyView>(apiPath, undefined, signal));
  const can = usePermissions(apiPath, keyPermissions);
  const [guarded, setGuarded] = useState<GuardedAction | null>(null);
  const [simple, setSimple] = useState<'rotate' | 'enable' | 'cancel-deletion' | null>(null);
  const [versionsGeneration, setVersionsGeneration] = useState(0);
  useEffect(() => {
    playground().catch(() => {
      // Rendering the playground loads it again and shows the failure.
    });
  }, []);
  const k = key.data;
  const label = k ? (k.slug ?? k.displayName) || k.id : props.keyId;
  const changed = () => {
    setGuarded(null);
    setSimple(null);
    key.reload();
    setVersionsGeneration((g) => g + 1);
  };
  const runSimple = async (action: 'rotate' | 'enable' | 'cancel-deletion') => {
    await api<KeyView>('POST', `${apiPath}/${action}`, { body: {} });
    changed();
  };
  const simpleText = {
    rotate: [
      'Rotate key',
      'A new primary version is made; new encryptions use it, older versions still decrypt.',
    ],
    enable: [
      'Enable key',
      'The key and the values of every secret and instance bound to it become usable again.',
    ],
    'cancel-deletion': [
      'Cancel deletion',
      'The scheduled destruction is cancelled; the key becomes disabled (enable it to use it).',
    ],
  } as const;
  return (
    <Page
      title={`Key ${label}`}
      crumbs={[
        { label: 'Projects', to: '/projects' },
        { label: props.projectId, to: path('projects', props.projectId) },
        { label: 'KMS', to: path('projects', props.projectId, 'kms') },
        { label: 'Key ring', to: keyRingPage(props) },
        { label },
      ]}
      actions={
        k && (
          <>
            {k.state === 'active' && can.has('kms.keys.rotate') && (
              <button type="button" onClick={() => setSimple('rotate')}>
                Rotate
              </button>
            )}
            {k.state === 'disabled' && can.has('kms.keys.enable') && (
              <button type="button" className="primary" onClick={() => setSimple('enable')}>
                Enable
              </button>
            )}
            {k.state === 'active' && can.has('kms.keys.disable') && (
              <button type="button" className="danger" onClick={() => setGuarded('disable')}>
                Disable…
              </button>
            )}
            {(k.state === 'active' || k.state === 'disabled') && can.has('kms.keys.schedule_deletion') && (
              <button type="button" className="danger" onClick={() => setGuarded('schedule-deletion')}>
                Schedule deletion…
              </button>
            )}
            {k.state === 'pending_deletion' && can.has('kms.keys.cancel_deletion') && (
              <button type="button" onClick={() => setSimple('cancel-deletion')}>
                Cancel deletion
              </button>
            )}
          </>
        )
      }
    >
      <ErrorBox error={key.error} />
      {key.loading && !k && <p aria-live="polite">Loading the key…</p>}
      {k && (
        <>
          <KeyStateBanner state={k.state} keyName={null} ownKey />
          <dl className="meta">
            <dt>State</dt>
            <dd>
              <KeyStateBadge state={k.state} />
            </dd>
            <dt>Resource name</dt>
            <dd className="mono">{k.name}</dd>
            <dt>Slug</dt>
            <dd className="mono">{k.slug ?? '—'}</dd>
            <dt>Algorithm</dt>
            <dd className="mono">{k.algorithm}</dd>
            <dt>Purpose</dt>
            <dd>{k.purpose}</dd>
            <dt>Primary version</dt>
            <dd>{k.primaryVersion}</dd>
            <dt>Rotation</dt>
            <dd>
              {k.rotationPeriod
                ? `every ${period(k.rotationPeriod)}, next ${when(k.nextRotationTime)}`
                : 'manual'}
            </dd>
            {k.deletionTime && (
              <>
                <dt>Destroyed at</dt>
                <dd>{when(k.deletionTime)}</dd>
              </>
            )}
            <dt>Created</dt>
            <dd>{when(k.createTime)}</dd>
          </dl>
          {guarded && (
            <KeyLifecycleDialog
              action={guarded}
              keyApiPath={apiPath}
              keyLabel={k.slug ?? k.id}
              onDone={changed}
              onCancel={() => setGuarded(null)}
            />
          )}
          {simple && (
            <ConfirmDialog
              open
              title={simpleText[simple][0]}
              confirmLabel={simpleText[simple][0]}
              onConfirm={() => runSimple(simple)}
              onCancel={() => setSimple(null)}
            >
              <p>{simpleText[simple][1]}</p>
            </ConfirmDialog>
          )}
          {can.has('kms.key_versions.list') && (
            <Versions
              key={versionsGeneration}
              apiPath={apiPath}
              primary={k.primaryVersion}
              can={can}
              onChange={key.reload}
            />
          )}
          {k.state === 'active' && (
            <Suspense fallback={<p aria-live="polite">Loading the playground…</p>}>
              <CryptoPlayground keyApiPath={apiPath} purpose={k.purpose} can={can} />
            </Suspense>
          )}
        </>
      )}
      <PolicyTable resourcePath={apiPath} title="IAM policy of the key" />
    </Page>
  );
}

type VersionAction = 'enable' | 'disable' | 'destroy' | 'restore';

function Versions(props: {
  readonly apiPath: string;
  readonly primary: number;
  readonly can: { has(permission: string): boolean };
  readonly onChange: () => void;
}): ReactNode {
  const pager = usePager();
  const list = useLoad(`versions ${props.apiPath} ${pager.token ?? ''}`, (signal) =>
    get<ApiPage<KeyVersionView>>(
      `${props.apiPath}/versions`,
      { pageSize: 50, pageToken: pager.token },
      signal,
    ),
  );
  const [acting, setActing] = useState<{ version: number; action: VersionAction } | null>(null);
  const allowed = (v: KeyVersionView, action: VersionAction) =>
    props.can.has(`kms.key_versions.${action}`) &&
    (action === 'enable'
      ? v.state === 'disabled'
      : action === 'disable'
        ? v.state === 'enabled' && v.version !== props.primary
        : action === 'destroy'
          ? (v.state === 'enabled' || v.state === 'disabled') && v.version !== props.primary
          : v.state === 'destroy_scheduled');
  return (
    <section className="stack" aria-labelledby="versions-title">
      <h2 id="versions-title">Versions</h2>
      <ErrorBox error={list.error} />
      {list.data && (
        <DataTable caption="Key versions" columns={['Version', 'State', 'Created', 'Destroyed', 'Actions']}>
          {list.data.items.map((v) => (
            <tr key={v.version}>
              <td>
                {v.version}
                {v.version === props.primary && <span className="badge"> primary</span>}
              </td>
              <td>
                <KeyStateBadge state={v.state} />
              </td>
              <td>{when(v.createTime)}</td>
              <td>{when(v.destroyTime)}</td>
              <td>
                {(['enable', 'disable', 'destroy', 'restore'] as const)
                  .filter((action) => allowed(v, action))
                  .map((action) => (
                    <button
                      key={action}
                      type="button"
                      className={action === 'destroy' ? 'link danger-text' : 'link'}
                      aria-label={`${action} version ${v.version}`}
                      onClick={() => setActing({ version: v.version, action })}
                    >
                      {action}
                    </button>
                  ))}
              </td>
            </tr>
          ))}
        </DataTable>
      )}
      <Pager pager={pager} next={list.data?.nextPageToken} label="Version pages" />
      {acting && (
        <ConfirmDialog
          open
          danger={acting.action === 'destroy' || acting.action === 'disable'}
          title={`${acting.action[0]!.toUpperCase()}${acting.action.slice(1)} version ${acting.version}`}
          confirmLabel={`${acting.action[0]!.toUpperCase()}${acting.action.slice(1)} version ${acting.version}`}
          {...(acting.action === 'destroy' ? { typedConfirmation: String(acting.version) } : {})}
          onCancel={() => setActing(null)}
          onConfirm={async () => {
            await api('POST', `${props.apiPath}/versions/${acting.version}/${acting.action}`, { body: {} });
            setActing(null);
            list.reload();
            props.onChange();
          }}
        >
          <p>
            {acting.action === 'destroy'
              ? 'Destroying crypto-shreds the version: data it encrypted can never be decrypted again. When secrets still use it, the API refuses.'
              : acting.action === 'disable'
                ? 'Data encrypted with this version cannot be decrypted until it is enabled again.'
                : acting.action === 'restore'
                  ? 'The scheduled destruction is cancelled; the version becomes disabled.'
                  : 'The version can decrypt (and verify) again.'}
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}
