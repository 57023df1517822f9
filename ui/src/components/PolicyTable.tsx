/**
 * A resource's IAM policy as a table of role → members (with each binding's condition and expiry),
 * and adding or removing a binding. Every change is a PUT of the whole policy with the etag it was
 * read with: when someone else changed the policy meanwhile, the API refuses (409) and nothing is
 * overwritten; the user reloads and sees the other change first.
 */
import { type FormEvent, type ReactNode, useId, useMemo, useState } from 'react';
import type { BindingView, Condition, PolicyView, RoleView } from '../../../src/core/api/iam-schemas.ts';
import { api, get, type Page, seg } from '../api/client.ts';
import { useLoad } from '../api/use-load.ts';
import { usePermissions } from '../api/use-permissions.ts';
import { DataTable } from './DataTable.tsx';
import { EmptyState } from './EmptyState.tsx';
import { ErrorBox } from './ErrorBox.tsx';
import { useApiAction } from './use-api-action.ts';

/** The project a /v2 resource path is in, if any. */
function projectOf(resourcePath: string): string | null {
  const m = /^\/v2\/projects\/([^/]+)/.exec(resourcePath);
  return m ? decodeURIComponent(m[1]!) : null;
}

/** Predefined roles, plus the project's custom roles when the resource is in a project. */
async function loadRoles(resourcePath: string, signal: AbortSignal): Promise<RoleView[]> {
  const predefined = await get<Page<RoleView>>('/v2/roles', undefined, signal);
  const project = projectOf(resourcePath);
  if (!project) return predefined.items;
  try {
    const custom = await get<Page<RoleView>>(
      `/v2/projects/${seg(project)}/roles`,
      { pageSize: 1000 },
      signal,
    );
    return [...predefined.items, ...custom.items];
  } catch {
    // Custom roles need iam.roles.list on the project; the predefined ones are enough to pick from.
    return predefined.items;
  }
}

function sameCondition(a: Condition | undefined, b: Condition | undefined): boolean {
  return (a?.title ?? null) === (b?.title ?? null) && (a?.expiresAt ?? null) === (b?.expiresAt ?? null);
}

/** The bindings with `member` added to (role, condition), or undefined when it is already there. */
export function withMember(
  bindings: readonly BindingView[],
  role: string,
  member: string,
  condition: Condition | undefined,
): BindingView[] | undefined {
  const i = bindings.findIndex((b) => b.role === role && sameCondition(b.condition, condition));
  if (i < 0) return [...bindings, { role, members: [member], ...(condition ? { condition } : {}) }];
  if (bindings[i]!.members.includes(member)) return undefined;
  return bindings.map((b, j) => (j === i ? { ...b, members: [...b.members, member] } : b));
}

/** The bindings without `member` in binding `index` (an emptied binding is dropped). */
export function withoutMember(
  bindings: readonly BindingView[],
  index: number,
  member: string,
): BindingView[] {
  return bindings
    .map((b, j) => (j === index ? { ...b, members: b.members.filter((m) => m !== member) } : b))
    .filter((b) => b.members.length > 0);
}

function expiry(condition: Condition | undefined): ReactNode {
  if (!condition?.expiresAt) return <span className="muted">never</span>;
  const at = new Date(condition.expiresAt);
  const past = at.getTime() <= Date.now();
  return (
    <>
      <time dateTime={condition.expiresAt}>{at.toLocaleString()}</time>
      {past && <span className="badge bad"> expired</span>}
    </>
  );
}

/** Props of PolicyTable. */
export interface PolicyTableProps {
  /** The resource's /v2 API path (`/v2/projects/p/regions/r/instances/i`), segments encoded. */
  readonly resourcePath: string;
  /** Heading text (default "IAM policy"). */
  readonly title?: string;
}

/** A resource's IAM policy: role → members, conditions and expiry; add and remove bindings. */
export function PolicyTable(props: PolicyTableProps): ReactNode {
  const { resourcePath } = props;
  const headingId = useId();
  const can = usePermissions(resourcePath, ['iam.policies.get', 'iam.policies.set']);
  const readable = can.has('iam.policies.get');
  const policy = useLoad(`policy ${resourcePath} ${readable}`, (signal) =>
    readable ? get<PolicyView>(`${resourcePath}/iam-policy`, undefined, signal) : Promise.resolve(null),
  );
  const roles = useLoad(`roles ${resourcePath} ${readable}`, (signal) =>
    readable ? loadRoles(resourcePath, signal) : Promise.resolve([] as RoleView[]),
  );
  const { busy, error, run } = useApiAction();
  const [adding, setAdding] = useState(false);
  const titles = useMemo(() => new Map((roles.data ?? []).map((r) => [r.name, r.title])), [roles.data]);

  const save = async (bindings: BindingView[]) => {
    const current = policy.data;
    if (!current) return;
    await run(async () => {
      await api<PolicyView>('PUT', `${resourcePath}/iam-policy`, { body: { bindings, etag: current.etag } });
      setAdding(false);
      policy.reload();
    });
  };

  if (!can.known) return null;
  return (
    <section aria-labelledby={headingId} className="stack">
      <div className="page-head">
        <h2 id={headingId}>{props.title ?? 'IAM policy'}</h2>
        {readable && can.has('iam.policies.set') && policy.data && (
          <div className="actions">
            <button type="button" onClick={() => setAdding((a) => !a)} aria-expanded={adding}>
              Add binding
            </button>
          </div>
        )}
      </div>
      {!readable && (
        <p className="muted">You may not read this resource's IAM policy (it needs iam.policies.get).</p>
      )}
      <ErrorBox error={policy.error ?? error} />
      {error !== null && (
        <p>
          <button type="button" onClick={policy.reload}>
            Reload the policy
          </button>
        </p>
      )}
      {adding && policy.data && (
        <AddBinding
          roles={roles.data ?? []}
          busy={busy}
          onCancel={() => setAdding(false)}
          onAdd={(role, member, condition) => {
            const next = withMember(policy.data!.bindings, role, member, condition);
            if (next) void save(next);
            else setAdding(false);
          }}
        />
      )}
      {policy.loading && readable && <p aria-live="polite">Loading the policy…</p>}
      {policy.data && policy.data.bindings.length === 0 && (
        <EmptyState title="No bindings on this resource.">
          <p>
            Access comes from bindings here or on a parent (the project, the root).
            {can.has('iam.policies.set') && ' Add a binding to grant a role to a user or service account.'}
          </p>
        </EmptyState>
      )}
      {policy.data && policy.data.bindings.length > 0 && (
        <DataTable
          caption="Bindings: role, members, condition and expiry"
          columns={['Role', 'Members', 'Condition', 'Expires']}
          className="policy"
        >
          {policy.data.bindings.map((binding, index) => (
            <tr key={`${binding.role} ${binding.condition?.title ?? ''} ${index}`}>
              <td>
                <span className="mono">{binding.role}</span>
                {titles.get(binding.role) && <div className="muted small">{titles.get(binding.role)}</div>}
              </td>
              <td>
                <ul className="plain">
                  {binding.members.map((member) => (
                    <li key={member}>
                      <span className="mono">{member}</span>{' '}
                      {can.has('iam.policies.set') && (
                        <button
                          type="button"
                          className="link"
                          disabled={busy}
                          aria-label={`Remove ${member} from ${binding.role}`}
                          onClick={() => void save(withoutMember(policy.data!.bindings, index, member))}
                        >
                          Remove
                        </button>
                      )}
                    </li>
                  ))}
                </ul>
              </td>
              <td>{binding.condition?.title ?? <span className="muted">none</span>}</td>
              <td>{expiry(binding.condition)}</td>
            </tr>
          ))}
        </DataTable>
      )}
    </section>
  );
}

/** The add-binding form: a role picker that shows the role's permissions, a member, an optional expiry. */
function AddBinding(props: {
  readonly roles: readonly RoleView[];
  readonly busy: boolean;
  readonly onAdd: (role: string, member: string, condition: Condition | undefined) => void;
  readonly onCancel: () => void;
}): ReactNode {
  const [role, setRole] = useState('');
  const [member, setMember] = useState('');
  const [conditionTitle, setConditionTitle] = useState('');
  const [expires, setExpires] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const permissionsId = useId();
  const roleId = useId();
  const chosen = props.roles.find((r) => r.name === role);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const who = member.trim();
    if (!role) return setProblem('Choose a role.');
    if (!/^(user|serviceAccount):[^\s:]+@[^\s:]+$/.test(who))
      return setProblem('A member is user:EMAIL or serviceAccount:EMAIL.');
    let condition: Condition | undefined;
    if (expires) {
      const at = new Date(expires);
      if (Number.isNaN(at.getTime()) || at.getTime() <= Date.now())
        return setProblem('The expiry must be a date in the future.');
      condition = { title: conditionTitle.trim() || 'expires', expiresAt: at.toISOString() };
    } else if (conditionTitle.trim()) condition = { title: conditionTitle.trim() };
    setProblem(null);
    props.onAdd(role, who, condition);
  };
  return (
    <form className="card stack" onSubmit={submit} aria-label="Add a binding">
      <div className="field">
        {/* A label pointing at the select (not wrapping it), so the chosen option is not part of its name. */}
        <label htmlFor={roleId}>Role</label>
        <select
          id={roleId}
          value={role}
          onChange={(e) => setRole(e.target.value)}
          aria-describedby={permissionsId}
        >
          <option value="">Choose a role…</option>
          {props.roles.map((r) => (
            <option key={r.name} value={r.name}>
              {r.title} ({r.name})
            </option>
          ))}
        </select>
      </div>
      <div id={permissionsId} aria-live="polite">
        {chosen && (
          <details open>
            <summary>
              Permissions of {chosen.name} ({chosen.permissions.length})
            </summary>
            <ul className="mono small columns">
              {chosen.permissions.map((p) => (
                <li key={p}>{p}</li>
              ))}
            </ul>
          </details>
        )}
      </div>
      <label>
        Member
        <input
          value={member}
          onChange={(e) => setMember(e.target.value)}
          placeholder="user:alice@example.com"
          autoComplete="off"
          spellCheck={false}
        />
      </label>
      <label>
        Condition title (optional)
        <input value={conditionTitle} maxLength={100} onChange={(e) => setConditionTitle(e.target.value)} />
      </label>
      <label>
        Expires (optional, your local time)
        <input type="datetime-local" value={expires} onChange={(e) => setExpires(e.target.value)} />
      </label>
      {problem && (
        <p className="error-box" role="alert">
          {problem}
        </p>
      )}
      <div className="actions">
        <button type="submit" className="primary" disabled={props.busy}>
          Add binding
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
