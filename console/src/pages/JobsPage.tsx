/** Jobs, newest first: filters, paging, and live updates while any job on the page is still going. */
import { useState } from 'react';
import { useSearchParams } from 'react-router';
import type { StackJob } from '../api/client';
import { conditional, fetched, usePolled } from '../api/poll';
import { useSession } from '../auth/session';
import { ErrorNote, JobLink, Loading, ResourceLink, StateBadge, useNow } from '../components/common';
import { useOrg } from '../components/Layout';
import { between, duration, isActive, when } from '../format';

const PHASES = ['queued', 'running', 'awaiting_approval', 'completed'] as const;
const RESULTS = ['tbd', 'succeeded', 'failed', 'cancelled', 'skipped'] as const;
const FILTERS = ['env', 'resourceId', 'kind', 'phase', 'result'] as const;
type Filter = (typeof FILTERS)[number];

export function JobsPage() {
  const { api } = useSession();
  const { org } = useOrg();
  const [params, setParams] = useSearchParams();
  const filters = Object.fromEntries(FILTERS.map((f) => [f, params.get(f) ?? ''])) as Record<Filter, string>;
  const cursor = params.get('cursor') ?? undefined;
  // The cursors of the pages before this one, for "Newer".
  const [previous, setPrevious] = useState<(string | undefined)[]>([]);
  const [active, setActive] = useState(true);
  const now = useNow();

  const query = {
    org,
    ...Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== '')),
    ...(cursor ? { cursor } : {}),
    limit: 20,
  };
  const key = JSON.stringify(query);
  const page = usePolled(
    key,
    async (etag) => {
      const answer = fetched(await api.GET('/v1/stack-jobs', { params: { query: query as never }, ...conditional(etag) }));
      if (answer.data) setActive(answer.data.items.some((j) => isActive(j)));
      return answer;
    },
    { active },
  );

  const setFilter = (name: Filter, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    next.delete('cursor');
    setPrevious([]);
    setParams(next);
  };
  const goTo = (c: string | undefined) => {
    const next = new URLSearchParams(params);
    if (c) next.set('cursor', c);
    else next.delete('cursor');
    setParams(next);
  };

  return (
    <section aria-labelledby="jobs-title">
      <h1 id="jobs-title">Jobs in {org}</h1>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        <TextFilter label="Environment" name="env" value={filters.env} onChange={setFilter} />
        <TextFilter label="Resource" name="resourceId" value={filters.resourceId} onChange={setFilter} />
        <TextFilter label="Kind" name="kind" value={filters.kind} onChange={setFilter} />
        <label>
          Phase
          <select value={filters.phase} onChange={(e) => setFilter('phase', e.target.value)}>
            <option value="">any</option>
            {PHASES.map((p) => (
              <option key={p} value={p}>
                {p.replace(/_/g, ' ')}
              </option>
            ))}
          </select>
        </label>
        <label>
          Result
          <select value={filters.result} onChange={(e) => setFilter('result', e.target.value)}>
            <option value="">any</option>
            {RESULTS.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
      </form>
      <ErrorNote error={page.error} />
      {page.loading && !page.data ? (
        <Loading what="jobs" />
      ) : page.data && page.data.items.length === 0 ? (
        <p>No jobs match.</p>
      ) : page.data ? (
        <table className="jobs">
          <caption className="visually-hidden">Stack jobs, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">Resource</th>
              <th scope="col">Kind</th>
              <th scope="col">Env</th>
              <th scope="col">State</th>
              <th scope="col">Submitted by</th>
              <th scope="col">Created</th>
              <th scope="col">Duration</th>
            </tr>
          </thead>
          <tbody>
            {page.data.items.map((job) => (
              <JobRow key={job.metadata.id} job={job} now={now} />
            ))}
          </tbody>
        </table>
      ) : null}
      <nav className="pager" aria-label="Pages">
        <button
          type="button"
          disabled={previous.length === 0}
          onClick={() => {
            const p = [...previous];
            const c = p.pop();
            setPrevious(p);
            goTo(c);
          }}
        >
          Newer
        </button>
        <button
          type="button"
          disabled={!page.data?.cursor}
          onClick={() => {
            setPrevious([...previous, cursor]);
            goTo(page.data?.cursor);
          }}
        >
          Older
        </button>
      </nav>
    </section>
  );
}

function TextFilter(props: { label: string; name: Filter; value: string; onChange(name: Filter, value: string): void }) {
  const [draft, setDraft] = useState(props.value);
  return (
    <label>
      {props.label}
      <input
        type="search"
        value={draft}
        onChange={(e) => setDraft(e.target.value)}
        onBlur={() => draft !== props.value && props.onChange(props.name, draft.trim())}
        onKeyDown={(e) => e.key === 'Enter' && props.onChange(props.name, draft.trim())}
      />
    </label>
  );
}

function JobRow({ job, now }: { job: StackJob; now: number }) {
  const info = job.spec.apiResourceInfo;
  const s = job.status;
  return (
    <tr>
      <td>
        <JobLink job={job} />
      </td>
      <td>
        <ResourceLink org={job.metadata.org} env={job.metadata.env} id={info.id}>
          {info.name}
        </ResourceLink>
      </td>
      <td>{info.kind}</td>
      <td>{job.metadata.env}</td>
      <td>
        <StateBadge job={job} />
      </td>
      <td>{job.metadata.submittedBy ?? info.eventCreatedBy}</td>
      <td>{when(s.createdAt)}</td>
      <td>{duration(between(s.startedAt ?? s.createdAt, s.finishedAt, now))}</td>
    </tr>
  );
}
