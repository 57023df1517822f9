import { type FormEvent, type ReactNode, useId, useState } from 'react';
import { api, seg } from '../../api/client.ts';
import { ErrorBox } from '../../components/ErrorBox.tsx';
import { useApiAction } from '../../components/use-api-action.ts';
import type { Version } from './SecretPage.tsx';

/** The API's limit on a value (256 KiB). */
const maxBytes = 262_144;

/** Bytes to standard base64 (the API's binaryValue). */
function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000)
    binary += String.fromCharCode(...bytes.subarray(i, Math.min(i + 0x8000, bytes.length)));
  return btoa(binary);
}

/** Adding a version: typed text, or a file's bytes (binary files too), optionally with stages. */
export function AddVersion(props: { readonly base: string; readonly onAdded: () => void }): ReactNode {
  const headingId = useId();
  const [source, setSource] = useState<'text' | 'file'>('text');
  const [text, setText] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const [stages, setStages] = useState('');
  const { busy, error, run } = useApiAction();
  const [done, setDone] = useState<number | null>(null);
  const [fileKey, setFileKey] = useState(0);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setDone(null);
    await run(async () => {
      const body: Record<string, unknown> = {};
      if (source === 'text') body.value = text;
      else {
        if (!file) throw new Error('Choose a file.');
        if (file.size > maxBytes) throw new Error(`The file is larger than ${maxBytes} bytes.`);
        body.binaryValue = toBase64(new Uint8Array(await file.arrayBuffer()));
      }
      const stageList = stages.split(/[\s,]+/).filter(Boolean);
      if (stageList.length > 0) body.stages = stageList;
      const answer = await api<{ version: number }>('PUT', `${props.base}/value`, { body });
      setText('');
      setFile(null);
      setFileKey((k) => k + 1);
      setStages('');
      setDone(answer.version);
      props.onAdded();
    });
  };

  return (
    <form className="card stack" onSubmit={submit} aria-labelledby={headingId}>
      <h2 id={headingId}>Add a version</h2>
      <fieldset className="row">
        <legend>Value from</legend>
        <label className="inline">
          <input type="radio" name="source" checked={source === 'text'} onChange={() => setSource('text')} />
          Text
        </label>
        <label className="inline">
          <input type="radio" name="source" checked={source === 'file'} onChange={() => setSource('file')} />
          File
        </label>
      </fieldset>
      {source === 'text' ? (
        <label>
          New value
          <textarea
            value={text}
            rows={4}
            required
            spellCheck={false}
            autoComplete="off"
            onChange={(e) => setText(e.target.value)}
          />
        </label>
      ) : (
        <label>
          File (up to 256 KiB, any content)
          <input key={fileKey} type="file" required onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
        </label>
      )}
      <label>
        Stages to put on it (optional, space-separated; the new version is always latest)
        <input value={stages} spellCheck={false} onChange={(e) => setStages(e.target.value)} />
      </label>
      <ErrorBox error={error} title="The version was not added" />
      {done !== null && <p role="status">Version {done} added.</p>}
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Adding…' : 'Add version'}
        </button>
      </div>
    </form>
  );
}

/** Moving a stage (staging label) onto a version. */
export function MoveStage(props: {
  readonly base: string;
  readonly versions: readonly Version[];
  readonly onMoved: () => void;
}): ReactNode {
  const headingId = useId();
  const candidates = props.versions.filter((v) => v.state !== 'destroyed');
  const known = [...new Set(props.versions.flatMap((v) => v.stages))].filter((s) => s !== 'latest').sort();
  const [stage, setStage] = useState('');
  const [version, setVersion] = useState(String(candidates[candidates.length - 1]?.version ?? ''));
  const { busy, error, run } = useApiAction();
  const [done, setDone] = useState<string | null>(null);
  const listId = useId();
  const versionId = useId();

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setDone(null);
    await run(async () => {
      await api('PUT', `${props.base}/stages/${seg(stage.trim())}`, { body: { version: Number(version) } });
      setDone(`${stage.trim()} is now on version ${version}.`);
      props.onMoved();
    });
  };

  if (candidates.length === 0) return null;
  return (
    <form className="card stack" onSubmit={submit} aria-labelledby={headingId}>
      <h2 id={headingId}>Move a stage</h2>
      <div className="row">
        <label>
          Stage to move
          <input
            value={stage}
            required
            maxLength={64}
            list={listId}
            spellCheck={false}
            onChange={(e) => setStage(e.target.value)}
          />
          <datalist id={listId}>
            {known.map((s) => (
              <option key={s} value={s} />
            ))}
          </datalist>
        </label>
        <div className="field">
          <label htmlFor={versionId}>Onto version</label>
          <select id={versionId} value={version} onChange={(e) => setVersion(e.target.value)}>
            {candidates.map((v) => (
              <option key={v.version} value={v.version}>
                {v.version} ({v.state})
              </option>
            ))}
          </select>
        </div>
        <button type="submit" disabled={busy}>
          Move stage
        </button>
      </div>
      <ErrorBox error={error} title="The stage was not moved" />
      {done && <p role="status">{done}</p>}
    </form>
  );
}
