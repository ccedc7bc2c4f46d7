/** Which resource the job changes and how, where it stands, and, while it is queued, which job holds the stack. */
import type { StackJob } from '../../api/client';
import { conditional, fetched, usePolled } from '../../api/poll';
import { useSession } from '../../auth/session';
import { JobLink, ResourceLink, StateBadge, useNow } from '../common';
import { between, duration, when } from '../../format';
import './job.css';

export function JobHeader({ job }: { job: StackJob }) {
  const now = useNow();
  const { metadata: m, status: s } = job;
  const info = job.spec.apiResourceInfo;
  return (
    <header className="job-header">
      <h1>
        <ResourceLink org={m.org} env={m.env} id={info.id}>
          {info.name}
        </ResourceLink>{' '}
        <span className="muted job-kind">{info.kind}</span>
      </h1>
      {m.version.message && <p className="job-message">{m.version.message}</p>}
      <dl className="facts">
        <dt>State</dt>
        <dd>
          <StateBadge job={job} />
          {s.reason && s.phase !== 'completed' ? ` ${s.reason.replace(/_/g, ' ')}` : ''}
        </dd>
        {s.phase === 'queued' && <QueueFacts job={job} />}
        <dt>Job</dt>
        <dd>
          <code>{m.id}</code>
          {job.spec.driftCheck ? ' (drift check)' : ''}
          {m.rerunOf && (
            <>
              {' '}
              · rerun of <JobLink id={m.rerunOf} />
            </>
          )}
        </dd>
        <dt>Organization / environment</dt>
        <dd>
          {m.org} / {m.env}
        </dd>
        <dt>Change</dt>
        <dd>
          {info.triggerEvent} by {info.eventCreatedBy}, version <code>{m.version.id}</code>
        </dd>
        {m.submittedBy && (
          <>
            <dt>Submitted by</dt>
            <dd>{m.submittedBy}</dd>
          </>
        )}
        <dt>Created</dt>
        <dd>{when(s.createdAt)}</dd>
        {s.startedAt && (
          <>
            <dt>{s.finishedAt ? 'Ran' : 'Running for'}</dt>
            <dd>
              {duration(between(s.startedAt, s.finishedAt, now))}
              {s.finishedAt ? `, finished ${when(s.finishedAt)}` : ''}
            </dd>
          </>
        )}
      </dl>
    </header>
  );
}

/**
 * A queued job's place in the queue and what it waits for: the job holding the stack, as the resource's lease names
 * it (the job itself does not carry it), followed live while the job waits.
 */
function QueueFacts({ job }: { job: StackJob }) {
  const { api } = useSession();
  const { org, env } = job.metadata;
  const resourceId = job.spec.apiResourceInfo.id;
  const resource = usePolled(
    `holder:${org}/${env}/${resourceId}`,
    async (etag) =>
      fetched(await api.GET('/v1/orgs/{org}/envs/{env}/resources/{resourceId}', { params: { path: { org, env, resourceId } }, ...conditional(etag) })),
    { active: true },
  );
  const lease = resource.data?.lease;
  const holder = lease && lease.holder !== job.metadata.id ? lease : undefined;
  return (
    <>
      {job.status.queuePosition !== undefined && (
        <>
          <dt>Queue position</dt>
          <dd>#{job.status.queuePosition}</dd>
        </>
      )}
      <dt>Stack</dt>
      <dd>
        {holder ? (
          <>
            held by job <JobLink id={holder.holder} />
            {holder.since ? ` since ${when(holder.since)}` : ''} (its lease runs to {when(holder.expiresAt)})
          </>
        ) : (
          'waiting for the stack'
        )}
      </dd>
    </>
  );
}
