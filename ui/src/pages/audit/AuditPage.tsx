import { type FormEvent, type ReactNode, useState } from 'react';
import type { AuditEventView } from '../../../../src/core/api/audit-schemas.ts';
import { get, type Page as ApiPage, type Query, seg } from '../../api/client.ts';
import { useLoad } from '../../api/use-load.ts';
import { DataTable } from '../../components/DataTable.tsx';
import { EmptyState } from '../../components/EmptyState.tsx';
import { LoadStatus } from '../../components/LoadStatus.tsx';
import { Page } from '../../components/Page.tsx';
import { Pager, usePager } from '../../components/Pager.tsx';
import { path } from '../../router.tsx';
import { AuditVerify } from './AuditVerify.tsx';

/** The filters of the events list, as typed (time range in the browser's local time). */
interface Filters {
  readonly action: string;
  readonly principal: string;
  readonly resource: string;
  readonly result: string;
  readonly since: string;
  readonly until: string;
}

const noFilters: Filters = { action: '', principal: '', resource: '', result: '', since: '', until: '' };

function toQuery(f: Filters): Query {
  const iso = (local: string) => (local ? new Date(local).toISOString() : undefined);
  return {
    action: f.action.trim() || undefined,
    principal: f.principal.trim() || undefined,
    resource: f.resource.trim() || undefined,
    result: f.result || undefined,
    since: iso(f.since),
    until: iso(f.until),
  };
}

/** A resource name inside the project, shown without the project's own prefix (the details show it all). */
function inProject(resource: string, projectId: string): string {
  const prefix = `projects/${projectId}/`;
  return resource.startsWith(prefix) ? `…/${resource.slice(prefix.length)}` : resource;
}

/** A project's audit events: filters, each event's details, and the chain's verify result. */
export function AuditPage(props: { readonly projectId: string }): ReactNode {
  const projectApi = `/v2/projects/${seg(props.projectId)}`;
  const [draft, setDraft] = useState<Filters>(noFilters);
  const [applied, setApplied] = useState<Filters>(noFilters);
  const [open, setOpen] = useState<string | null>(null);
  const pager = usePager();
  const query = toQuery(applied);
  const events = useLoad(`audit ${projectApi} ${JSON.stringify(query)} ${pager.token ?? ''}`, (signal) =>
    get<ApiPage<AuditEventView>>(
      `${projectApi}/audit-events`,
      { ...query, pageSize: 50, pageToken: pager.token },
      signal,
    ),
  );
  const set = (field: keyof Filters) => (value: string) => setDraft((d) => ({ ...d, [field]: value }));
  const apply = (event: FormEvent) => {
    event.preventDefault();
    setApplied(draft);
    setOpen(null);
    pager.reset();
  };
  const filtered = Object.values(applied).some((v) => v !== '');
  return (
    <Page
      title="Audit events"
      crumbs={[
        { label: 'Projects', to: '/projects' },
        { label: props.projectId, to: path('projects', props.projectId) },
        { label: 'Audit' },
      ]}
    >
      <AuditVerify />
      <form className="card filters" onSubmit={apply} aria-label="Filter audit events">
        <label>
          Action
          <input
            value={draft.action}
            onChange={(e) => set('action')(e.target.value)}
            placeholder="secrets.get_value"
            spellCheck={false}
          />
        </label>
        <label>
          Principal
          <input
            value={draft.principal}
            onChange={(e) => set('principal')(e.target.value)}
            placeholder="user:alice@example.com"
            spellCheck={false}
          />
        </label>
        <label>
          Resource (name prefix)
          <input
            value={draft.resource}
            onChange={(e) => set('resource')(e.target.value)}
            placeholder={`projects/${props.projectId}/…`}
            spellCheck={false}
          />
        </label>
        <label>
          Result
          <select value={draft.result} onChange={(e) => set('result')(e.target.value)}>
            <option value="">any</option>
            <option value="ok">ok</option>
            <option value="denied">denied</option>
            <option value="error">error</option>
          </select>
        </label>
        <label>
          From (local time)
          <input type="datetime-local" value={draft.since} onChange={(e) => set('since')(e.target.value)} />
        </label>
        <label>
          Until (local time)
          <input type="datetime-local" value={draft.until} onChange={(e) => set('until')(e.target.value)} />
        </label>
        <div className="actions">
          <button type="submit" className="primary">
            Apply filters
          </button>
          <button
            type="button"
            onClick={() => {
              setDraft(noFilters);
              setApplied(noFilters);
              pager.reset();
            }}
          >
            Clear
          </button>
        </div>
      </form>
      <LoadStatus load={events} what="events" />
      {events.data && events.data.items.length === 0 && (
        <EmptyState title={filtered ? 'No event matches these filters.' : 'No events in this project yet.'}>
          <p>
            {filtered
              ? 'Widen the time range or clear a filter. Actions are names like secrets.get_value; resources match by prefix.'
              : 'Every API call on the project’s resources is recorded here, with who made it and the result.'}
          </p>
        </EmptyState>
      )}
      {events.data && events.data.items.length > 0 && (
        <DataTable
          caption="Audit events, newest first"
          columns={['Time', 'Action', 'Principal', 'Resource', 'Result', 'Details']}
          testId="audit-events"
          className="audit-events"
        >
          {events.data.items.flatMap((e) => {
            const rows = [
              <tr key={e.id}>
                <td className="nowrap">
                  <time dateTime={e.time}>{new Date(e.time).toLocaleString()}</time>
                </td>
                <td className="mono">{e.action}</td>
                <td className="mono">{e.principal}</td>
                <td className="mono">{inProject(e.resource, props.projectId)}</td>
                <td>
                  <span className={e.result === 'ok' ? 'badge ok' : 'badge bad'}>{e.result}</span> {e.status}
                </td>
                <td>
                  <button
                    type="button"
                    className="link"
                    aria-expanded={open === e.id}
                    aria-controls={`event-${e.id}`}
                    aria-label={`${open === e.id ? 'Hide' : 'Show'} details of ${e.action} at ${new Date(e.time).toLocaleString()}`}
                    onClick={() => setOpen(open === e.id ? null : e.id)}
                  >
                    {open === e.id ? 'Hide' : 'Show'}
                  </button>
                </td>
              </tr>,
            ];
            if (open === e.id)
              rows.push(
                <tr key={`${e.id} details`} id={`event-${e.id}`}>
                  <td colSpan={6}>
                    <EventDetails event={e} />
                  </td>
                </tr>,
              );
            return rows;
          })}
        </DataTable>
      )}
      <Pager pager={pager} next={events.data?.nextPageToken} label="Audit event pages" />
    </Page>
  );
}

function EventDetails(props: { readonly event: AuditEventView }): ReactNode {
  const e = props.event;
  const rows: [string, ReactNode][] = [
    ['Event id', <span className="mono">{e.id}</span>],
    ['Time', e.time],
    ['Request id', <span className="mono">{e.requestId}</span>],
    ['Action', e.action],
    ['Principal', e.principal],
    ...(e.onBehalfOf ? ([['On behalf of', e.onBehalfOf]] as [string, ReactNode][]) : []),
    ['Resource', <span className="mono">{e.resource}</span>],
    ['Result', `${e.result} (${e.status})`],
    ...(e.sourceIp ? ([['Source address', e.sourceIp]] as [string, ReactNode][]) : []),
    ...(e.userAgent ? ([['User agent', e.userAgent]] as [string, ReactNode][]) : []),
    ...Object.entries(e.details ?? {}).map(([k, v]) => [`details.${k}`, String(v)] as [string, ReactNode]),
  ];
  return (
    <dl className="meta" data-testid="audit-event-details">
      {rows.map(([term, value]) => (
        <div key={term} className="meta-row">
          <dt>{term}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}
