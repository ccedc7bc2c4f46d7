/** The job's operations in the order they run, each with its state, start and duration (running ones tick), and why a failed job failed. */
import type { StackJob } from '../../api/client';
import { useNow } from '../common';
import { between, duration, when } from '../../format';
import { summaryLine } from './plan-summary';
import './job.css';

type Operation = StackJob['status']['operations'][number];

function operationState(op: Operation): string {
  if (op.status === 'pending') return 'pending';
  if (op.status === 'running') return 'running';
  return op.result;
}

function operationClass(op: Operation): string {
  return op.status === 'completed' ? `state-${op.result}` : `state-${op.status === 'running' ? 'running' : 'queued'}`;
}

export function OperationsTimeline({ job }: { job: StackJob }) {
  const now = useNow();
  const durations = job.status.durations ?? {};
  return (
    <section className="panel" aria-labelledby="operations-title">
      <h2 id="operations-title">Operations</h2>
      <ol className="timeline">
        {job.status.operations.map((op) => {
          const took = between(op.startedAt, op.finishedAt, now) ?? durations[op.name];
          return (
            <li key={op.name} className={`timeline-step step-${op.status} ${op.result === 'failed' ? 'step-failed' : ''}`}>
              <span className="step-name">{op.name}</span> <span className={`badge ${operationClass(op)}`}>{operationState(op)}</span>{' '}
              <span className="muted">
                {op.startedAt ? `started ${when(op.startedAt)} · ` : ''}
                {op.status === 'pending' ? 'not started' : `${op.status === 'running' ? 'running for' : 'took'} ${duration(took)}`}
              </span>
              {op.summary && <p className="step-summary">{summaryLine(op.summary)}</p>}
              {op.errors.length > 0 && (
                <ul className="step-errors">
                  {op.errors.map((e, i) => (
                    <li key={i}>
                      <pre>{e}</pre>
                    </li>
                  ))}
                </ul>
              )}
            </li>
          );
        })}
      </ol>
    </section>
  );
}

/** A failed job: the operation that failed and its error, first thing on the page. */
export function FailureNote({ job }: { job: StackJob }) {
  const s = job.status;
  if (s.phase !== 'completed' || s.result !== 'failed') return null;
  const failedOp = s.operations.find((o) => o.result === 'failed');
  const operation = s.failure?.operation ?? failedOp?.name;
  const message = s.failure?.message ?? failedOp?.errors.join('\n');
  return (
    // An alert: why the job failed is the first thing a reader (or a screen reader) should meet.
    <section className="panel failure" role="alert" aria-labelledby="failure-title">
      <h2 id="failure-title">{operation ? `Failed in ${operation}` : 'Failed'}</h2>
      {s.reason && <p>Reason: {s.reason.replace(/_/g, ' ')}</p>}
      {message && <pre className="failure-message">{message}</pre>}
      {s.failure?.exitCode !== undefined && <p>Exit code {s.failure.exitCode}.</p>}
    </section>
  );
}
