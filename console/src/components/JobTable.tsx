/**
 * Stack jobs as a table, newest first, in the columns a page asks for; and JobList, which reads them from the API a
 * page at a time and keeps the page live while any job on it is unfinished.
 */
import type { ReactNode } from 'react';
import type { StackJob } from '../api/client';
import { conditional, fetched, POLL_VISIBLE_MS, usePolled } from '../api/poll';
import type { operations } from '../api/schema';
import { useSession } from '../auth/session';
import { between, duration, isActive, when } from '../format';
import { ErrorNote, JobLink, Loading, ResourceLink, StateBadge, useNow } from './common';
import { Pager } from './Pager';

/** How often a page of ended jobs is read again, for the jobs submitted since. */
export const QUIET_POLL_MS = 10_000;

interface Column {
  header: string;
  cell(job: StackJob, now: number): ReactNode;
}

const COLUMNS = {
  job: { header: 'Job', cell: (job) => <JobLink id={job.metadata.id} /> },
  resource: {
    header: 'Resource',
    cell: (job) => (
      <ResourceLink org={job.metadata.org} env={job.metadata.env} id={job.spec.apiResourceInfo.id}>
        {job.spec.apiResourceInfo.name}
      </ResourceLink>
    ),
  },
  kind: { header: 'Kind', cell: (job) => job.spec.apiResourceInfo.kind },
  env: { header: 'Env', cell: (job) => job.metadata.env },
  trigger: { header: 'Trigger', cell: (job) => job.spec.apiResourceInfo.triggerEvent },
  version: { header: 'Version', cell: (job) => job.metadata.version.message || <code>{job.metadata.version.id}</code> },
  state: { header: 'State', cell: (job) => <StateBadge job={job} /> },
  submittedBy: { header: 'Submitted by', cell: (job) => job.metadata.submittedBy ?? job.spec.apiResourceInfo.eventCreatedBy },
  created: { header: 'Created', cell: (job) => when(job.status.createdAt) },
  duration: {
    header: 'Duration',
    cell: ({ status: s }, now) => duration(between(s.startedAt ?? s.createdAt, s.finishedAt, now)),
  },
} satisfies Record<string, Column>;

export type JobColumn = keyof typeof COLUMNS;

/** The jobs in `columns`; a running job's duration ticks. */
export function JobTable({ jobs, columns, caption }: { jobs: StackJob[]; columns: JobColumn[]; caption: string }) {
  const now = useNow();
  return (
    <table>
      <caption className="visually-hidden">{caption}</caption>
      <thead>
        <tr>
          {columns.map((c) => (
            <th key={c} scope="col">
              {COLUMNS[c].header}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {jobs.map((job) => (
          <tr key={job.metadata.id}>
            {columns.map((c) => (
              <td key={c}>{COLUMNS[c].cell(job, now)}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** What GET /v1/stack-jobs is asked for, but the cursor (the list's own). */
export type JobQuery = Omit<NonNullable<operations['listStackJobs']['parameters']['query']>, 'cursor'>;

/**
 * The jobs GET /v1/stack-jobs answers for `query`, newest first, with Newer and Older. The page shown is `cursor`
 * (undefined: the newest), moved by `onCursor`; a new `query` starts the pager over.
 */
export function JobList(props: {
  query: JobQuery;
  cursor?: string;
  onCursor(cursor: string | undefined): void;
  columns: JobColumn[];
  caption: string;
  /** What an empty page says. */
  empty: ReactNode;
  /** The pager's accessible name. */
  pagerLabel: string;
  /** Told, after each read, whether any job on the page is unfinished. */
  onActive?(active: boolean): void;
}) {
  const { api } = useSession();
  const query = { ...props.query, ...(props.cursor ? { cursor: props.cursor } : {}) };
  const page = usePolled(
    JSON.stringify(query),
    async (etag) => {
      const answer = fetched(await api.GET('/v1/stack-jobs', { params: { query }, ...conditional(etag) }));
      if (answer.data) props.onActive?.(answer.data.items.some((j) => isActive(j)));
      return answer;
    },
    // While a job on the page is going, every 2 s; otherwise every 10 s, so new jobs still appear (a 304 costs little).
    { active: true, intervalMs: (data) => (data?.items.some((j) => isActive(j)) ? POLL_VISIBLE_MS : QUIET_POLL_MS) },
  );

  return (
    <>
      <ErrorNote error={page.error} />
      {page.loading && !page.data ? (
        <Loading what="jobs" />
      ) : page.data && page.data.items.length === 0 ? (
        props.empty
      ) : page.data ? (
        <JobTable jobs={page.data.items} columns={props.columns} caption={props.caption} />
      ) : null}
      <Pager key={JSON.stringify(props.query)} label={props.pagerLabel} cursor={props.cursor} next={page.data?.cursor} onPage={props.onCursor} />
    </>
  );
}
