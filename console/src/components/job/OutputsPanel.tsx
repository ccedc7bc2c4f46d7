/** The job's outputs, once it has any. */
import type { StackJob } from '../../api/client';
import { JobOutputs } from '../Outputs';
import './job.css';

export function OutputsPanel({ job }: { job: StackJob }) {
  const id = job.metadata.id;
  return (
    <section className="panel" aria-labelledby="outputs-title">
      <h2 id="outputs-title">Outputs</h2>
      {/* Outputs exist once the apply wrote them (outputsKey); an ended job is asked regardless, and says so if it has none. */}
      {job.status.outputsKey || job.status.phase === 'completed' ? (
        <JobOutputs jobId={id} outputsKey={job.status.outputsKey} caption={`Outputs of ${id}`} />
      ) : (
        <p className="muted">No outputs yet.</p>
      )}
    </section>
  );
}
