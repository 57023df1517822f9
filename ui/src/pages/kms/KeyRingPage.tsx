import { type ReactNode, useState } from 'react';
import type { KeyRingView, KeyView } from '../../../../src/core/api/kms-schemas.ts';
import { api, get, type Page as ApiPage } from '../../api/client.ts';
import { useLoad } from '../../api/use-load.ts';
import { usePermissions } from '../../api/use-permissions.ts';
import { CreateForm, OpenFormButton } from '../../components/CreateForm.tsx';
import { DataTable } from '../../components/DataTable.tsx';
import { EmptyState } from '../../components/EmptyState.tsx';
import { ErrorBox } from '../../components/ErrorBox.tsx';
import { LoadStatus } from '../../components/LoadStatus.tsx';
import { Page } from '../../components/Page.tsx';
import { Pager, usePager } from '../../components/Pager.tsx';
import { PolicyTable } from '../../components/PolicyTable.tsx';
import { Link, navigate, path } from '../../router.tsx';
import { type KeyRingPlace, keyPage, keyRingApi, when } from './kms-paths.ts';
import { KeyStateBadge } from './KeyStateBadge.tsx';

/** The algorithms each purpose allows (SPEC §5), first one the default. */
export const algorithmsByPurpose: Readonly<Record<string, readonly string[]>> = {
  encrypt_decrypt: ['aes256-gcm96', 'aes128-gcm96', 'chacha20-poly1305'],
  sign_verify: ['ecdsa-p256', 'ecdsa-p384', 'ed25519', 'rsa-2048', 'rsa-3072', 'rsa-4096'],
  decrypt: ['rsa-2048', 'rsa-3072', 'rsa-4096'],
  mac: ['hmac-sha256', 'hmac-sha512'],
};

const purposeLabels: Readonly<Record<string, string>> = {
  encrypt_decrypt: 'Symmetric encrypt and decrypt',
  sign_verify: 'Asymmetric sign and verify',
  decrypt: 'Asymmetric decrypt',
  mac: 'MAC (HMAC)',
};

/** A key ring: its keys, creating one (algorithm and purpose), and the ring's IAM policy. */
export function KeyRingPage(props: KeyRingPlace): ReactNode {
  const ringApi = keyRingApi(props);
  const ring = useLoad(`keyring ${ringApi}`, (signal) => get<KeyRingView>(ringApi, undefined, signal));
  const pager = usePager();
  const keys = useLoad(`keys ${ringApi} ${pager.token ?? ''}`, (signal) =>
    get<ApiPage<KeyView>>(`${ringApi}/keys`, { pageSize: 50, pageToken: pager.token }, signal),
  );
  const can = usePermissions(ringApi, ['kms.keys.create']);
  const [creating, setCreating] = useState(false);
  const title = ring.data ? `Key ring ${ring.data.displayName}` : 'Key ring';
  return (
    <Page
      title={title}
      crumbs={[
        { label: 'Projects', to: '/projects' },
        { label: props.projectId, to: path('projects', props.projectId) },
        { label: 'KMS', to: path('projects', props.projectId, 'kms') },
        { label: ring.data?.displayName ?? props.keyRingId },
      ]}
      actions={
        can.has('kms.keys.create') && (
          <OpenFormButton open={creating} onOpen={() => setCreating(true)}>
            Create key
          </OpenFormButton>
        )
      }
    >
      <ErrorBox error={ring.error} />
      {ring.data && (
        <dl className="meta">
          <dt>Id</dt>
          <dd className="mono">{ring.data.id}</dd>
          <dt>Region</dt>
          <dd>{props.regionId}</dd>
          <dt>Description</dt>
          <dd>{ring.data.description || '—'}</dd>
          <dt>Created</dt>
          <dd>{when(ring.data.createTime)}</dd>
        </dl>
      )}
      {creating && <CreateKey place={props} onCancel={() => setCreating(false)} />}
      <section className="stack" aria-labelledby="keys-title">
        <h2 id="keys-title">Keys</h2>
        <LoadStatus load={keys} what="keys" />
        {keys.data && keys.data.items.length === 0 && !pager.token && (
          <EmptyState title="No keys in this key ring yet.">
            {can.has('kms.keys.create') ? (
              <p>Create a key: choose what it is for (its purpose), then an algorithm.</p>
            ) : (
              <p>Ask a KMS admin to create a key here or to grant you kms.keys.list.</p>
            )}
          </EmptyState>
        )}
        {keys.data && keys.data.items.length > 0 && (
          <DataTable
            caption="Keys of the key ring"
            columns={['Key', 'State', 'Algorithm', 'Purpose', 'Primary version', 'Created']}
          >
            {keys.data.items.map((key) => (
              <tr key={key.id}>
                <td>
                  <Link to={keyPage({ ...props, keyId: key.id })}>
                    {key.slug ?? key.displayName ?? key.id}
                  </Link>
                  <div className="mono small muted">{key.id}</div>
                </td>
                <td>
                  <KeyStateBadge state={key.state} />
                </td>
                <td className="mono">{key.algorithm}</td>
                <td>{key.purpose}</td>
                <td>{key.primaryVersion}</td>
                <td>{when(key.createTime)}</td>
              </tr>
            ))}
          </DataTable>
        )}
        <Pager pager={pager} next={keys.data?.nextPageToken} label="Key pages" />
      </section>
      <PolicyTable resourcePath={ringApi} title="IAM policy of the key ring" />
    </Page>
  );
}

function CreateKey(props: { readonly place: KeyRingPlace; readonly onCancel: () => void }): ReactNode {
  const [purpose, setPurpose] = useState('encrypt_decrypt');
  const [algorithm, setAlgorithm] = useState('aes256-gcm96');
  const [slug, setSlug] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [rotationDays, setRotationDays] = useState('');
  const choosePurpose = (next: string) => {
    setPurpose(next);
    setAlgorithm(algorithmsByPurpose[next]![0]!);
  };
  const submit = async () => {
    const days = Number(rotationDays);
    const key = await api<KeyView>('POST', `${keyRingApi(props.place)}/keys`, {
      body: {
        algorithm,
        purpose,
        ...(slug.trim() ? { slug: slug.trim() } : {}),
        ...(displayName.trim() ? { displayName: displayName.trim() } : {}),
        ...(rotationDays && days > 0 ? { rotationPeriod: `${Math.round(days * 86400)}s` } : {}),
      },
    });
    navigate(keyPage({ ...props.place, keyId: key.id }));
  };
  return (
    <CreateForm
      titleId="create-key-title"
      title="Create a key"
      level={2}
      submitLabel="Create key"
      onSubmit={submit}
      onCancel={props.onCancel}
    >
      <label>
        Purpose
        <select value={purpose} onChange={(e) => choosePurpose(e.target.value)}>
          {Object.keys(algorithmsByPurpose).map((p) => (
            <option key={p} value={p}>
              {purposeLabels[p]} ({p})
            </option>
          ))}
        </select>
      </label>
      <label>
        Algorithm
        <select value={algorithm} onChange={(e) => setAlgorithm(e.target.value)}>
          {algorithmsByPurpose[purpose]!.map((a) => (
            <option key={a} value={a}>
              {a}
            </option>
          ))}
        </select>
      </label>
      <label>
        Slug (optional: lowercase letters, digits and "-"; secrets can name the key by it)
        <input
          value={slug}
          pattern="[a-z][a-z0-9\-]{0,62}"
          onChange={(e) => setSlug(e.target.value)}
          autoComplete="off"
        />
      </label>
      <label>
        Display name (optional)
        <input value={displayName} maxLength={200} onChange={(e) => setDisplayName(e.target.value)} />
      </label>
      <label>
        Automatic rotation every N days (optional)
        <input type="number" min={1} value={rotationDays} onChange={(e) => setRotationDays(e.target.value)} />
      </label>
    </CreateForm>
  );
}
