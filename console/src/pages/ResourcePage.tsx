/**
 * One resource (a stack): its latest result and outputs, who holds the stack (the lease) and Terraform's own lock on
 * its state, what the last drift check found, and its job history. Operators may check it for drift; admins may
 * release a state lock a killed run left behind. Another org's resource is a 404, answered as "No such resource".
 */
import { useId, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import type { Schemas, StackJob } from '../api/client';
import { conditional, fetched, usePolled } from '../api/poll';
import { useMe } from '../auth/session';
import { requestProblem, type RequestProblem } from '../components/catalog/FieldProblems';
import { ConfirmDialog, ErrorNote, JobLink, Loading, StateBadge, useNow } from '../components/common';
import { CheckResults } from '../components/preflight/CheckResults';
import { between, duration, isActive, when } from '../format';

type ResourceStatus = Schemas['ResourceStatus'];
type StateLock = Schemas['StateLock'];
type Outputs = Record<string, Schemas['OutputValue']>;

interface Stack {
  org: string;
  env: string;
  resourceId: string;
}

const jobPath = (id: string) => `/jobs/${encodeURIComponent(id)}`;

export function ResourcePage() {
  const { org = '', env = '', resourceId = '' } = useParams();
  const { api } = useMe();
  const stack: Stack = { org, env, resourceId };
  // Poll while something is going on: a job of this resource is not finished, or a job holds the stack.
  const [leased, setLeased] = useState(false);
  const [jobsActive, setJobsActive] = useState(false);
  const live = leased || jobsActive;
  const status = usePolled(
    `${org}/${env}/${resourceId}`,
    async (etag) => {
      const answer = fetched(await api.GET('/v1/orgs/{org}/envs/{env}/resources/{resourceId}', { params: { path: stack }, ...conditional(etag) }));
      if (answer.data) setLeased(answer.data.lease !== undefined);
      return answer;
    },
    { active: live },
  );

  if (status.error?.status === 404) {
    return (
      <section aria-labelledby="resource-title">
        <h1 id="resource-title">No such resource</h1>
        <p>
          There is no resource <code>{resourceId}</code> in {org}/{env} that you may see, or no job for it has finished yet.
        </p>
        <p>
          <Link to="/jobs">All jobs</Link>
        </p>
      </section>
    );
  }
  const s = status.data;
  return (
    <section aria-labelledby="resource-title">
      <h1 id="resource-title">
        {resourceId}{' '}
        <span className="muted">
          {s?.kind ? `${s.kind} · ` : ''}
          {org}/{env}
        </span>
      </h1>
      <ErrorNote error={status.error} />
      {!s ? (
        status.loading && <Loading what="resource" />
      ) : (
        <>
          <StatusPanel status={s} />
          <OutputsPanel status={s} />
          <LeaseAndLock stack={stack} status={s} live={live} />
          <DriftPanel stack={stack} status={s} />
          <JobHistory stack={stack} onActive={setJobsActive} />
        </>
      )}
    </section>
  );
}

function StatusPanel({ status: s }: { status: ResourceStatus }) {
  return (
    <section className="panel" aria-labelledby="resource-status">
      <h2 id="resource-status">Latest status</h2>
      <dl className="facts">
        <dt>Last result</dt>
        <dd>{s.lastResult ? <span className={`badge state-${s.lastResult}`}>{s.lastResult}</span> : '—'}</dd>
        <dt>Last job</dt>
        <dd>{s.lastJobId ? <Link to={jobPath(s.lastJobId)}>{s.lastJobId}</Link> : '—'}</dd>
        <dt>Finished</dt>
        <dd>{when(s.lastFinishedAt)}</dd>
        <dt>Version applied</dt>
        <dd>{s.versionApplied ? <code>{s.versionApplied}</code> : '—'}</dd>
        <dt>Applied by job</dt>
        <dd>{s.lastAppliedJobId ? <Link to={jobPath(s.lastAppliedJobId)}>{s.lastAppliedJobId}</Link> : '—'}</dd>
      </dl>
    </section>
  );
}

/** The last applied job's outputs: those the status carries, or else that job's own. */
function OutputsPanel({ status: s }: { status: ResourceStatus }) {
  return (
    <section className="panel" aria-labelledby="resource-outputs">
      <h2 id="resource-outputs">Outputs</h2>
      {s.outputs ? (
        <OutputsTable outputs={s.outputs} />
      ) : s.lastAppliedJobId ? (
        <OutputsOfJob jobId={s.lastAppliedJobId} />
      ) : (
        <p className="muted">No applied job yet, so no outputs.</p>
      )}
    </section>
  );
}

function OutputsOfJob({ jobId }: { jobId: string }) {
  const { api } = useMe();
  const outputs = usePolled(
    `outputs/${jobId}`,
    async (etag) => fetched(await api.GET('/v1/stack-jobs/{id}/outputs', { params: { path: { id: jobId } }, ...conditional(etag) })),
    { active: false },
  );
  if (outputs.error?.status === 404) return <p className="muted">Job {jobId} produced no outputs.</p>;
  if (outputs.error) return <ErrorNote error={outputs.error} />;
  if (!outputs.data) return <Loading what="outputs" />;
  return <OutputsTable outputs={outputs.data.outputs} />;
}

function OutputsTable({ outputs }: { outputs: Outputs }) {
  const names = Object.keys(outputs).sort();
  if (names.length === 0) return <p className="muted">No outputs.</p>;
  return (
    <table>
      <caption className="visually-hidden">Outputs of the last applied job</caption>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Value</th>
        </tr>
      </thead>
      <tbody>
        {names.map((name) => (
          <tr key={name}>
            <th scope="row">
              <code>{name}</code>
            </th>
            <td>
              <OutputText output={outputs[name]} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A sensitive output is never shown, whatever value came with it. */
function OutputText({ output }: { output: Schemas['OutputValue'] }) {
  if (output.sensitive) return <span className="muted">(sensitive)</span>;
  if (typeof output.value === 'string') return <code>{output.value}</code>;
  return <pre>{JSON.stringify(output.value, null, 2)}</pre>;
}

/** Who holds the stack (Stack Jobs' lease) and Terraform's own lock on the state, with force-unlock for admins. */
function LeaseAndLock({ stack, status, live }: { stack: Stack; status: ResourceStatus; live: boolean }) {
  const { api, can } = useMe();
  const ids = useId();
  const lock = usePolled(
    `lock/${stack.org}/${stack.env}/${stack.resourceId}`,
    async (etag) => fetched(await api.GET('/v1/orgs/{org}/envs/{env}/resources/{resourceId}/state-lock', { params: { path: stack }, ...conditional(etag) })),
    { active: live },
  );
  const [confirming, setConfirming] = useState(false);
  const [reason, setReason] = useState('');
  const [reasonError, setReasonError] = useState<string | undefined>();
  const [unlockError, setUnlockError] = useState<string | undefined>();
  const [released, setReleased] = useState<StateLock['released']>();

  const l = lock.data;
  const lease = status.lease;
  const mayUnlock = can(stack.org, 'admin');

  const forceUnlock = async () => {
    if (!l) return;
    if (!reason.trim()) {
      setReasonError('Say why releasing it is safe: the reason is recorded.');
      return;
    }
    setConfirming(false);
    setUnlockError(undefined);
    try {
      const answer = await api.POST('/v1/orgs/{org}/envs/{env}/resources/{resourceId}/state-lock/force-unlock', {
        params: { path: stack },
        body: { lockId: l.lock.id, reason: reason.trim() },
      });
      if (answer.data) {
        setReleased(answer.data.released);
        setReason('');
      } else {
        setUnlockError(`Could not release the lock: ${requestProblem(answer.error, answer.response.status).detail}`);
      }
    } catch (e) {
      setUnlockError(`Could not release the lock: ${(e as Error).message}`);
    } finally {
      lock.refresh();
    }
  };

  return (
    <section className="panel" aria-labelledby="resource-lease">
      <h2 id="resource-lease">Lease and state lock</h2>
      <h3>Stack lease</h3>
      {lease ? (
        <dl className="facts">
          <dt>Held by</dt>
          <dd>
            <Link to={jobPath(lease.holder)}>{lease.holder}</Link>
          </dd>
          <dt>Since</dt>
          <dd>{when(lease.since)}</dd>
          <dt>Expires</dt>
          <dd>{when(lease.expiresAt)}</dd>
        </dl>
      ) : (
        <p className="muted">No job holds the stack.</p>
      )}
      <h3>Terraform state lock</h3>
      {released && (
        <p role="status" className="notice">
          Released by {released.by} at {when(released.at)}: {released.reason}
        </p>
      )}
      <ErrorNote error={unlockError} />
      {lock.error?.status === 404 ? (
        <p className="muted">No lock is held on the state.</p>
      ) : lock.error ? (
        <ErrorNote error={lock.error} />
      ) : !l ? (
        <Loading what="state lock" />
      ) : (
        <>
          <dl className="facts">
            <dt>Held by</dt>
            <dd>{l.lock.who}</dd>
            <dt>Since</dt>
            <dd>{l.lock.created ? when(l.lock.created) : '—'}</dd>
            <dt>Operation</dt>
            <dd>{l.lock.operation ?? '—'}</dd>
            <dt>Binding</dt>
            <dd>{l.lock.held === true ? 'yes: the next run waits for it' : l.lock.held === false ? 'no: left by a process that has ended' : 'unknown'}</dd>
            <dt>Left by job</dt>
            <dd>
              {l.leftBy ? (
                <>
                  <Link to={jobPath(l.leftBy.jobId)}>{l.leftBy.jobId}</Link> (
                  {l.leftBy.phase === 'completed' ? l.leftBy.result : l.leftBy.phase.replace(/_/g, ' ')})
                </>
              ) : (
                '—'
              )}
            </dd>
            <dt>Lock id</dt>
            <dd>
              <code>{l.lock.id}</code>
            </dd>
            <dt>Where</dt>
            <dd>
              <code>{l.stateKey}</code> ({l.backend.type} backend {l.backend.id}, {l.lock.store})
            </dd>
          </dl>
          {mayUnlock && (
            <div className="actions">
              <button
                type="button"
                className="danger"
                disabled={l.stackHeldBy !== undefined}
                aria-describedby={l.stackHeldBy ? `${ids}-held` : undefined}
                onClick={() => {
                  setReasonError(undefined);
                  setConfirming(true);
                }}
              >
                Force unlock
              </button>
              {l.stackHeldBy && (
                <span id={`${ids}-held`} className="muted">
                  Job <Link to={jobPath(l.stackHeldBy)}>{l.stackHeldBy}</Link> holds the stack and its run owns the lock: cancel that job instead.
                </span>
              )}
            </div>
          )}
          {mayUnlock && (
            <ConfirmDialog
              open={confirming}
              title="Force unlock the state?"
              confirmLabel="Force unlock"
              onConfirm={() => void forceUnlock()}
              onCancel={() => setConfirming(false)}
            >
              <p>
                Release lock <code>{l.lock.id}</code> held by {l.lock.who}. Only safe when no process is still writing the state.
              </p>
              <label>
                Reason
                <textarea
                  value={reason}
                  onChange={(e) => setReason(e.target.value)}
                  rows={3}
                  required
                  aria-invalid={reasonError ? true : undefined}
                  aria-describedby={reasonError ? `${ids}-reason-error` : undefined}
                />
              </label>
              {reasonError && (
                <p id={`${ids}-reason-error`} className="field-error" role="alert">
                  {reasonError}
                </p>
              )}
            </ConfirmDialog>
          )}
        </>
      )}
    </section>
  );
}

/** What the latest refresh found changed outside Stack Jobs; operators may look again now. */
function DriftPanel({ stack, status }: { stack: Stack; status: ResourceStatus }) {
  const { api, can } = useMe();
  const navigate = useNavigate();
  const [checking, setChecking] = useState(false);
  const [problem, setProblem] = useState<RequestProblem | undefined>();
  const d = status.drift;

  const checkDrift = async () => {
    setChecking(true);
    setProblem(undefined);
    try {
      const answer = await api.POST('/v1/orgs/{org}/envs/{env}/resources/{resourceId}/drift-checks', { params: { path: stack } });
      if (answer.data) {
        navigate(jobPath(answer.data.metadata.id));
        return;
      }
      setProblem(requestProblem(answer.error, answer.response.status));
    } catch (e) {
      setProblem(requestProblem((e as Error).message, 0));
    } finally {
      setChecking(false);
    }
  };

  return (
    <section className="panel" aria-labelledby="resource-drift">
      <h2 id="resource-drift">Drift</h2>
      {d ? (
        <>
          <dl className="facts">
            <dt>Checked</dt>
            <dd>{when(d.checkedAt)}</dd>
            <dt>Drifted</dt>
            <dd>
              {d.drifted ? (
                <span className="badge state-failed">
                  drifted: {d.total} resource{d.total === 1 ? '' : 's'}
                </span>
              ) : (
                <span className="badge state-succeeded">no drift</span>
              )}
            </dd>
            <dt>Found by job</dt>
            <dd>
              <Link to={jobPath(d.jobId)}>{d.jobId}</Link>
            </dd>
          </dl>
          {d.resources.length > 0 && (
            <table>
              <caption className="visually-hidden">Resources that drifted</caption>
              <thead>
                <tr>
                  <th scope="col">Address</th>
                  <th scope="col">Changed outside Stack Jobs</th>
                </tr>
              </thead>
              <tbody>
                {d.resources.map((r) => (
                  <tr key={r.address}>
                    <th scope="row">
                      <code>{r.address}</code>
                    </th>
                    <td>{r.actions.join(', ')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      ) : (
        <p className="muted">No drift check yet.</p>
      )}
      {can(stack.org, 'submit') && (
        <div className="actions">
          <button type="button" onClick={() => void checkDrift()} disabled={checking}>
            {checking ? 'Starting a drift check…' : 'Check drift'}
          </button>
        </div>
      )}
      {problem && <ErrorNote error={`Could not check drift: ${problem.detail}`}>{problem.checks && <CheckResults checks={problem.checks} />}</ErrorNote>}
    </section>
  );
}

const HISTORY_PAGE = 10;

/** The resource's jobs, newest first, a page at a time; live while any on the page is unfinished. */
function JobHistory({ stack, onActive }: { stack: Stack; onActive(active: boolean): void }) {
  const { api } = useMe();
  const now = useNow();
  const [cursor, setCursor] = useState<string | undefined>();
  // The cursors of the pages before this one, for "Newer".
  const [previous, setPrevious] = useState<(string | undefined)[]>([]);
  const [active, setActive] = useState(true);
  const query = { ...stack, limit: HISTORY_PAGE, ...(cursor ? { cursor } : {}) };
  const page = usePolled(
    JSON.stringify(query),
    async (etag) => {
      const answer = fetched(await api.GET('/v1/stack-jobs', { params: { query }, ...conditional(etag) }));
      if (answer.data) {
        const going = answer.data.items.some((j) => isActive(j));
        setActive(going);
        onActive(going);
      }
      return answer;
    },
    { active },
  );
  const items = page.data?.items ?? [];

  return (
    <section className="panel" aria-labelledby="resource-history">
      <h2 id="resource-history">Job history</h2>
      <ErrorNote error={page.error} />
      {page.loading && !page.data ? (
        <Loading what="jobs" />
      ) : page.data && items.length === 0 ? (
        <p className="muted">No jobs.</p>
      ) : page.data ? (
        <table>
          <caption className="visually-hidden">Jobs of {stack.resourceId}, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">Trigger</th>
              <th scope="col">Version</th>
              <th scope="col">State</th>
              <th scope="col">Submitted by</th>
              <th scope="col">Created</th>
              <th scope="col">Duration</th>
            </tr>
          </thead>
          <tbody>
            {items.map((job) => (
              <HistoryRow key={job.metadata.id} job={job} now={now} />
            ))}
          </tbody>
        </table>
      ) : null}
      <nav className="pager" aria-label="Job history pages">
        <button
          type="button"
          disabled={previous.length === 0}
          onClick={() => {
            const p = [...previous];
            setCursor(p.pop());
            setPrevious(p);
          }}
        >
          Newer
        </button>
        <button
          type="button"
          disabled={!page.data?.cursor}
          onClick={() => {
            setPrevious([...previous, cursor]);
            setCursor(page.data?.cursor);
          }}
        >
          Older
        </button>
      </nav>
    </section>
  );
}

function HistoryRow({ job, now }: { job: StackJob; now: number }) {
  const s = job.status;
  return (
    <tr>
      <td>
        <JobLink job={job} />
      </td>
      <td>{job.spec.apiResourceInfo.triggerEvent}</td>
      <td>{job.metadata.version.message || <code>{job.metadata.version.id}</code>}</td>
      <td>
        <StateBadge job={job} />
      </td>
      <td>{job.metadata.submittedBy ?? job.spec.apiResourceInfo.eventCreatedBy}</td>
      <td>{when(s.createdAt)}</td>
      <td>{duration(between(s.startedAt ?? s.createdAt, s.finishedAt, now))}</td>
    </tr>
  );
}
