import { type ReactNode, useId, useState } from 'react';
import type { ServiceAccountView } from '../../../../src/core/api/iam-schemas.ts';
import type { KeyRingView, KeyView } from '../../../../src/core/api/kms-schemas.ts';
import type { InstanceView } from '../../../../src/core/api/secrets-schemas.ts';
import { api, get, type Page as ApiPage, seg } from '../../api/client.ts';
import { useLoad } from '../../api/use-load.ts';
import { CreateForm } from '../../components/CreateForm.tsx';
import { navigate } from '../../router.tsx';
import { instancePage, instancesApi, projectApi } from './secret-paths.ts';

/**
 * An id field with the choices the caller may list offered as suggestions (a datalist: pick one or
 * type an id; a caller who may use a key without listing key rings still can).
 */
function Pick(props: {
  readonly label: string;
  readonly value: string;
  readonly onChange: (value: string) => void;
  /** The suggestions; null when they cannot be listed. */
  readonly items: readonly { value: string; text: string }[] | null;
  readonly type?: string;
}): ReactNode {
  const listId = useId();
  return (
    <label>
      {props.label}
      <input
        type={props.type ?? 'text'}
        value={props.value}
        required
        spellCheck={false}
        autoComplete="off"
        {...(props.items ? { list: listId } : {})}
        onChange={(e) => props.onChange(e.target.value)}
      />
      {props.items && (
        <datalist id={listId}>
          {props.items.map((item) => (
            <option key={item.value} value={item.value} label={item.text} />
          ))}
        </datalist>
      )}
    </label>
  );
}

/** Creating an instance, with no key (root protection) or a KMS key of its project and region. */
export function CreateInstance(props: {
  readonly projectId: string;
  readonly regionId: string;
  readonly onCancel: () => void;
}): ReactNode {
  const { projectId, regionId } = props;
  const [name, setName] = useState('');
  const [withKey, setWithKey] = useState(false);
  const [keyRingId, setKeyRingId] = useState('');
  const [keyId, setKeyId] = useState('');
  const [keyVersion, setKeyVersion] = useState('1');
  const [serviceAccountEmail, setServiceAccountEmail] = useState('');
  const region = `${projectApi(projectId)}/regions/${seg(regionId)}`;
  const rings = useLoad(`rings ${region} ${withKey}`, (signal) =>
    withKey
      ? get<ApiPage<KeyRingView>>(`${region}/keyrings`, { pageSize: 1000 }, signal)
      : Promise.resolve(null),
  );
  const keys = useLoad(`keys ${region} ${keyRingId}`, (signal) =>
    withKey && keyRingId
      ? get<ApiPage<KeyView>>(`${region}/keyrings/${seg(keyRingId)}/keys`, { pageSize: 1000 }, signal)
      : Promise.resolve(null),
  );
  const accounts = useLoad(`accounts ${projectId} ${withKey}`, (signal) =>
    withKey
      ? get<ApiPage<ServiceAccountView>>(
          `${projectApi(projectId)}/service-accounts`,
          { pageSize: 1000 },
          signal,
        )
      : Promise.resolve(null),
  );
  const symmetric = keys.data?.items.filter((k) => k.purpose === 'encrypt_decrypt');

  const submit = async () => {
    const kmsKey = withKey
      ? {
          projectId,
          regionId,
          keyRingId: keyRingId.trim(),
          keyId: keyId.trim(),
          keyVersion: Number(keyVersion),
          serviceAccountEmail: serviceAccountEmail.trim(),
        }
      : null;
    const instance = await api<InstanceView>('POST', instancesApi(projectId, regionId), {
      body: { name: name.trim(), kmsKey },
    });
    navigate(instancePage({ projectId, regionId, instanceId: instance.id }));
  };
  return (
    <CreateForm
      titleId="create-instance-title"
      title="Create an instance"
      level={2}
      onSubmit={submit}
      onCancel={props.onCancel}
    >
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
          <Pick
            label="Key ring id"
            value={keyRingId}
            onChange={(value) => {
              setKeyRingId(value);
              setKeyId('');
            }}
            items={
              rings.data ? rings.data.items.map((r) => ({ value: r.id, text: r.displayName || r.id })) : null
            }
          />
          <Pick
            label="Key id"
            value={keyId}
            onChange={(value) => {
              setKeyId(value);
              const key = symmetric?.find((k) => k.id === value);
              if (key) setKeyVersion(String(key.primaryVersion));
            }}
            items={
              symmetric
                ? symmetric.map((k) => ({
                    value: k.id,
                    text: `${k.displayName || k.id} (${k.algorithm}, ${k.state.replaceAll('_', ' ')})`,
                  }))
                : null
            }
          />
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
          <Pick
            label="Service account email (the identity KMS calls run as)"
            value={serviceAccountEmail}
            onChange={setServiceAccountEmail}
            type="email"
            items={
              accounts.data
                ? accounts.data.items
                    .filter((a) => !a.disabled)
                    .map((a) => ({
                      value: a.email,
                      text: a.displayName ? `${a.displayName} (${a.email})` : a.email,
                    }))
                : null
            }
          />
          <p className="small muted">
            The service account needs a role that may encrypt and decrypt with this key (for example
            roles/kms.cryptoKeyEncrypterDecrypter on the key ring).
          </p>
        </fieldset>
      )}
    </CreateForm>
  );
}
