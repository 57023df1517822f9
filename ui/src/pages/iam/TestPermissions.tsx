import { type FormEvent, type ReactNode, useId, useState } from 'react';
import { ApiError, get, type Page as ApiPage, testPermissions } from '../../api/client.ts';
import { useLoad } from '../../api/use-load.ts';
import { DataTable } from '../../components/DataTable.tsx';
import { ErrorBox } from '../../components/ErrorBox.tsx';
import { useApiAction } from '../../components/use-api-action.ts';

interface PermissionInfo {
  readonly name: string;
  readonly description: string;
}

/**
 * Whether `text` is a /v2 resource path the check may be sent to: `/v2` and encoded segments, none
 * of them `.` or `..` in any spelling (the URL parser would fold those and send the user's token to
 * another route), no query, fragment or space.
 */
export function isResourcePath(text: string): boolean {
  if (!/^\/v2(\/[^/?#\s\\]+)*$/.test(text)) return false;
  return text
    .split('/')
    .slice(2)
    .every((segment) => !/^(\.|%2e){1,2}$/i.test(segment));
}

/**
 * "Test my permissions": which permissions of the catalogue the signed-in user holds on a resource
 * (its /v2 API path), through `POST {resource}/iam:test-permissions` (100 per call).
 */
export function TestPermissions(props: { readonly defaultResource: string }): ReactNode {
  const headingId = useId();
  const catalogue = useLoad('permissions catalogue', (signal) =>
    get<ApiPage<PermissionInfo>>('/v2/permissions', undefined, signal),
  );
  const [resource, setResource] = useState(props.defaultResource);
  const [filter, setFilter] = useState('');
  const [held, setHeld] = useState<{ resource: string; held: Set<string> } | null>(null);
  const { busy, error, setError, run } = useApiAction();
  const all = catalogue.data?.items ?? [];

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const target = resource.trim().replace(/\/+$/, '');
    if (!isResourcePath(target)) {
      setHeld(null);
      setError(
        new ApiError(
          0,
          'invalid_argument',
          'Give a resource’s API path, like /v2/projects/PROJECT_ID.',
          null,
        ),
      );
      return;
    }
    await run(
      async () => {
        const names = all.map((p) => p.name);
        const found = new Set<string>();
        for (let i = 0; i < names.length; i += 100)
          for (const name of await testPermissions(target, names.slice(i, i + 100))) found.add(name);
        setHeld({ resource: target, held: found });
      },
      () => setHeld(null),
    );
  };
  const shown = all.filter((p) => p.name.includes(filter.trim()));
  return (
    <section className="stack" aria-labelledby={headingId}>
      <h2 id={headingId}>Test my permissions</h2>
      <ErrorBox error={catalogue.error} />
      <form className="row" onSubmit={submit}>
        <label className="grow">
          Resource (API path)
          <input value={resource} onChange={(e) => setResource(e.target.value)} spellCheck={false} />
        </label>
        <button type="submit" className="primary" disabled={busy || all.length === 0}>
          Test my permissions
        </button>
      </form>
      <ErrorBox error={error} />
      {held && (
        <>
          <p aria-live="polite">
            You hold <strong>{held.held.size}</strong> of {all.length} permissions on{' '}
            <code>{held.resource}</code>.
          </p>
          <label className="narrow">
            Filter permissions
            <input value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="secrets." />
          </label>
          <DataTable
            caption={`Permissions held on ${held.resource}`}
            columns={['Permission', 'Held', 'What it allows']}
            testId="permission-results"
          >
            {shown.map((p) => (
              <tr key={p.name}>
                <td className="mono">{p.name}</td>
                <td>
                  {held.held.has(p.name) ? (
                    <span className="badge ok">yes</span>
                  ) : (
                    <span className="badge bad">no</span>
                  )}
                </td>
                <td>{p.description}</td>
              </tr>
            ))}
          </DataTable>
        </>
      )}
    </section>
  );
}
