import { type ReactNode, useState } from 'react';
import { api } from '../../api/client.ts';
import { CreateForm } from '../../components/CreateForm.tsx';
import { type InstancePlace, instanceApi, parseLabels } from './secret-paths.ts';

/** Creating a secret: its path, labels, optionally a key binding and a first value. */
export function CreateSecret(props: {
  readonly place: InstancePlace;
  readonly onCancel: () => void;
  readonly onCreated: (path: string) => void;
}): ReactNode {
  const [path, setPath] = useState('');
  const [labels, setLabels] = useState('');
  const [keyIdentity, setKeyIdentity] = useState('');
  const [value, setValue] = useState('');
  const submit = async () => {
    const body: Record<string, unknown> = { path: path.trim(), labels: parseLabels(labels) };
    if (keyIdentity.trim()) body.kmsKeyIdentity = keyIdentity.trim();
    if (value !== '') body.value = value;
    await api('POST', `${instanceApi(props.place)}/secrets`, { body });
    setValue('');
    props.onCreated(path.trim());
  };
  return (
    <CreateForm
      titleId="create-secret-title"
      title="Create a secret"
      level={3}
      onSubmit={submit}
      onCancel={props.onCancel}
    >
      <label>
        Path
        <input
          value={path}
          required
          maxLength={512}
          spellCheck={false}
          onChange={(e) => setPath(e.target.value)}
        />
      </label>
      <label>
        Labels (key=value, space-separated)
        <input value={labels} spellCheck={false} onChange={(e) => setLabels(e.target.value)} />
      </label>
      <label>
        KMS key to bind (resource name; empty: the instance's key)
        <input
          value={keyIdentity}
          spellCheck={false}
          placeholder="projects/…/regions/…/keyrings/…/keys/…"
          onChange={(e) => setKeyIdentity(e.target.value)}
        />
      </label>
      <label>
        First value (optional)
        <textarea
          value={value}
          rows={3}
          spellCheck={false}
          autoComplete="off"
          onChange={(e) => setValue(e.target.value)}
        />
      </label>
    </CreateForm>
  );
}
