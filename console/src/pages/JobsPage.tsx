/** Jobs, newest first: filters, paging, and live updates while any job on the page is still going. */
import { useState } from 'react';
import { useSearchParams } from 'react-router';
import { JobList, type JobQuery } from '../components/JobTable';
import { useOrg } from '../components/Layout';

const PHASES = ['queued', 'running', 'awaiting_approval', 'completed'] as const;
const RESULTS = ['tbd', 'succeeded', 'failed', 'cancelled', 'skipped'] as const;
const FILTERS = ['env', 'resourceId', 'kind', 'phase', 'result'] as const;
type Filter = (typeof FILTERS)[number];

export function JobsPage() {
  const { org } = useOrg();
  const [params, setParams] = useSearchParams();
  const filters = Object.fromEntries(FILTERS.map((f) => [f, params.get(f) ?? ''])) as Record<Filter, string>;
  // The URL's filters are the API's to judge: it answers a 400 for a phase or result it does not know.
  const query = { org, ...Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== '')), limit: 20 } as JobQuery;

  const setParam = (name: Filter | 'cursor', value: string | undefined) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    if (name !== 'cursor') next.delete('cursor');
    setParams(next);
  };

  return (
    <section aria-labelledby="jobs-title">
      <h1 id="jobs-title">Jobs in {org}</h1>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        <TextFilter label="Environment" name="env" value={filters.env} onChange={setParam} />
        <TextFilter label="Resource" name="resourceId" value={filters.resourceId} onChange={setParam} />
        <TextFilter label="Kind" name="kind" value={filters.kind} onChange={setParam} />
        <label>
          Phase
          <select value={filters.phase} onChange={(e) => setParam('phase', e.target.value)}>
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
          <select value={filters.result} onChange={(e) => setParam('result', e.target.value)}>
            <option value="">any</option>
            {RESULTS.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
      </form>
      <JobList
        query={query}
        cursor={params.get('cursor') ?? undefined}
        onCursor={(c) => setParam('cursor', c)}
        columns={['job', 'resource', 'kind', 'env', 'state', 'submittedBy', 'created', 'duration']}
        caption="Stack jobs, newest first"
        empty={<p>No jobs match.</p>}
        pagerLabel="Pages"
      />
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
