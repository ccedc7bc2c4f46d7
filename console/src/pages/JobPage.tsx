/**
 * One job: where it stands, why it failed, its approval, its plan, its operations and logs, its outputs, pre-flight
 * and the snapshot it was frozen with. Followed live (conditional polling) until it has ended, and read again after
 * any action taken on it. Another org's job is a 404 to the API, and here simply no such job.
 */
import { useState } from 'react';
import { useParams } from 'react-router';
import { conditional, fetched, usePolled } from '../api/poll';
import { useSession } from '../auth/session';
import { ErrorNote, Loading } from '../components/common';
import { ApprovalPanel } from '../components/job/ApprovalPanel';
import { JobActions } from '../components/job/JobActions';
import { JobHeader } from '../components/job/JobHeader';
import { LogsPanel } from '../components/job/LogsPanel';
import { FailureNote, OperationsTimeline } from '../components/job/OperationsTimeline';
import { OutputsPanel } from '../components/job/OutputsPanel';
import { PlanPanel } from '../components/job/PlanPanel';
import { PreflightPanel, SnapshotPanel } from '../components/job/SnapshotPanel';
import { isActive } from '../format';

export function JobPage() {
  const { id = '' } = useParams();
  // A new job (a rerun opened from here) starts with none of this one's state.
  return <JobView key={id} id={id} />;
}

function JobView({ id }: { id: string }) {
  const { api } = useSession();
  const [active, setActive] = useState(true);
  const job = usePolled(
    `job:${id}`,
    async (etag) => {
      const answer = fetched(await api.GET('/v1/stack-jobs/{id}', { params: { path: { id } }, ...conditional(etag) }));
      if (answer.data) setActive(isActive(answer.data));
      // Gone, or never visible: nothing more to follow. Other errors may pass, so polling goes on.
      else if (answer.status === 404 || answer.status === 403) setActive(false);
      return answer;
    },
    { active },
  );

  if (job.error?.status === 404 || job.error?.status === 403) {
    return (
      <section aria-labelledby="job-title">
        <h1 id="job-title">No such job</h1>
        <p>
          There is no job <code>{id}</code> that you can see.
        </p>
      </section>
    );
  }
  if (!job.data) {
    return (
      <section aria-labelledby="job-title">
        <h1 id="job-title">Job {id}</h1>
        {job.error ? <ErrorNote error={job.error} /> : <Loading what="the job" />}
      </section>
    );
  }
  const j = job.data;
  const changed = () => {
    setActive(true);
    job.refresh();
  };
  return (
    <article className="job" aria-label={`Job ${j.metadata.id}`}>
      <JobHeader job={j} />
      {/* A failed poll keeps the page as last read and says so; the next poll may recover. */}
      <ErrorNote error={job.error} />
      <JobActions job={j} onChanged={changed} />
      <FailureNote job={j} />
      <ApprovalPanel job={j} onDecided={changed} />
      <PlanPanel job={j} />
      <OperationsTimeline job={j} />
      <LogsPanel jobId={j.metadata.id} />
      <OutputsPanel job={j} />
      <PreflightPanel job={j} />
      <SnapshotPanel job={j} />
    </article>
  );
}
