import { type FormEvent, type ReactNode, useId, useState } from 'react';
import type { SecretView } from '../../../../src/core/api/secrets-schemas.ts';
import { get, type Page as ApiPage } from '../../api/client.ts';
import { useLoad } from '../../api/use-load.ts';
import { OpenFormButton } from '../../components/CreateForm.tsx';
import { DataTable } from '../../components/DataTable.tsx';
import { EmptyState } from '../../components/EmptyState.tsx';
import { ErrorBox } from '../../components/ErrorBox.tsx';
import { Pager, usePager } from '../../components/Pager.tsx';
import { Link, navigate } from '../../router.tsx';
import { CreateSecret } from './CreateSecret.tsx';
import { type InstancePlace, instanceApi, secretPage, when } from './secret-paths.ts';

const pageSize = 50;

/** `env=prod team` → the API's `label` terms (`key=value`, or `key` for any value). */
function labelTerms(text: string): string[] {
  return text.split(/\s+/).filter(Boolean);
}

/**
 * An instance's secrets, filtered by path prefix and labels on the server (`?prefix=&label=`) and
 * paged with page tokens: one request per page whatever the instance holds (100,000 secrets too).
 */
export function SecretsList(props: {
  readonly place: InstancePlace;
  readonly canList: boolean;
  readonly canCreate: boolean;
}): ReactNode {
  const { place } = props;
  const headingId = useId();
  const [prefixInput, setPrefixInput] = useState('');
  const [labelsInput, setLabelsInput] = useState('');
  const [filter, setFilter] = useState({ prefix: '', labels: [] as string[] });
  const [creating, setCreating] = useState(false);
  const pager = usePager();
  const base = instanceApi(place);
  const key = `secrets ${base} ${props.canList} ${filter.prefix} ${filter.labels.join(' ')} ${pager.token ?? ''}`;
  const list = useLoad(key, async (signal) => {
    if (!props.canList) return null;
    const params = new URLSearchParams({ pageSize: String(pageSize) });
    if (filter.prefix) params.set('prefix', filter.prefix);
    for (const term of filter.labels) params.append('label', term);
    if (pager.token) params.set('pageToken', pager.token);
    return get<ApiPage<SecretView>>(`${base}/secrets?${params.toString()}`, undefined, signal);
  });

  const apply = (event: FormEvent) => {
    event.preventDefault();
    setFilter({ prefix: prefixInput, labels: labelTerms(labelsInput) });
    pager.reset();
  };
  const filtered = filter.prefix !== '' || filter.labels.length > 0;

  return (
    <section aria-labelledby={headingId}>
      <div className="page-head">
        <h2 id={headingId}>Secrets</h2>
        {props.canCreate && (
          <OpenFormButton open={creating} onOpen={() => setCreating(true)}>
            Create secret
          </OpenFormButton>
        )}
      </div>
      {creating && (
        <CreateSecret
          place={place}
          onCancel={() => setCreating(false)}
          onCreated={(path) => navigate(secretPage({ ...place, secret: path }))}
        />
      )}
      {!props.canList && (
        <p className="muted">
          You may not list this instance's secrets. Open a secret you were given access to by its path:{' '}
          <OpenSecret place={place} />
        </p>
      )}
      {props.canList && (
        <form className="row" role="search" aria-label="Filter secrets" onSubmit={apply}>
          <label>
            Path prefix
            <input
              value={prefixInput}
              placeholder="app/db/"
              spellCheck={false}
              onChange={(e) => setPrefixInput(e.target.value)}
            />
          </label>
          <label>
            Labels (key=value or key, space-separated)
            <input
              value={labelsInput}
              placeholder="env=prod team"
              spellCheck={false}
              onChange={(e) => setLabelsInput(e.target.value)}
            />
          </label>
          <button type="submit">Search</button>
          {filtered && (
            <button
              type="button"
              onClick={() => {
                setPrefixInput('');
                setLabelsInput('');
                setFilter({ prefix: '', labels: [] });
                pager.reset();
              }}
            >
              Clear filters
            </button>
          )}
        </form>
      )}
      <ErrorBox error={list.error} />
      <p aria-live="polite" className="muted small">
        {list.loading
          ? 'Loading secrets…'
          : list.data
            ? `${list.data.items.length} secrets on page ${pager.number}`
            : ''}
      </p>
      {list.data && list.data.items.length === 0 && !pager.token && (
        <EmptyState
          title={filtered ? 'No secret matches these filters.' : 'This instance holds no secret yet.'}
        >
          {filtered ? (
            <p>Try a shorter path prefix or fewer labels.</p>
          ) : props.canCreate ? (
            <p>Create a secret with "Create secret"; its first value can be given right away.</p>
          ) : (
            <p>Secrets created here (by the API, the CLI or the SDK) appear in this list.</p>
          )}
        </EmptyState>
      )}
      {list.data && list.data.items.length > 0 && (
        <DataTable
          caption="Secrets"
          columns={['Path', 'Labels', 'Key', 'Latest version', 'Expires', 'Updated']}
        >
          {list.data.items.map((secret) => (
            <tr key={secret.path}>
              <td>
                <Link to={secretPage({ ...place, secret: secret.path })}>{secret.path}</Link>
                {secret.deleteTime && <span className="badge bad">pending deletion</span>}
              </td>
              <td>
                {Object.entries(secret.labels).map(([k, v]) => (
                  <span key={k} className="badge">
                    {k}={v}
                  </span>
                ))}
              </td>
              <td>
                <span className={`badge ${secret.kmsKey.status === 'active' ? 'ok' : 'bad'}`}>
                  {secret.kmsKey.status.replaceAll('_', ' ')}
                </span>
              </td>
              <td>{secret.latestVersion}</td>
              <td>{when(secret.expireTime)}</td>
              <td>{when(secret.updateTime)}</td>
            </tr>
          ))}
        </DataTable>
      )}
      <Pager pager={pager} next={list.data?.nextPageToken} label="Secrets pages" />
    </section>
  );
}

function OpenSecret(props: { readonly place: InstancePlace }): ReactNode {
  const [path, setPath] = useState('');
  return (
    <form
      className="row"
      onSubmit={(event) => {
        event.preventDefault();
        if (path.trim()) navigate(secretPage({ ...props.place, secret: path.trim() }));
      }}
    >
      <label>
        Secret path
        <input value={path} required spellCheck={false} onChange={(e) => setPath(e.target.value)} />
      </label>
      <button type="submit">Open secret</button>
    </form>
  );
}
