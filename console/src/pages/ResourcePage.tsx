/**
 * One resource (a stack): its latest result and outputs, who holds the stack (the lease) and Terraform's own lock on
 * its state, what the last drift check found, and its job history. Operators may check it for drift; admins may
 * release a state lock a killed run left behind. Another org's resource is a 404, answered as "No such resource".
 */
import { useId, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import type { Schemas } from '../api/client';
import { conditional, fetched, usePolled } from '../api/poll';
import { useMe } from '../auth/session';
import { outcome, type RequestProblem } from '../components/catalog/FieldProblems';
import { ConfirmDialog, ErrorNote, JobLink, jobPath, Loading } from '../components/common';
import { JobList } from '../components/JobTable';
import { JobOutputs, OutputsTable } from '../components/Outputs';
import { CheckResults } from '../components/preflight/CheckResults';
import { when } from '../format';

type ResourceStatus = Schemas['ResourceStatus'];
type StateLock = Schemas['StateLock'];

interface Stack {
  org: string;
  env: string;
  resourceId: string;
}

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
        <dd>{s.lastJobId ? <JobLink id={s.lastJobId} /> : '—'}</dd>
        <dt>Finished</dt>
        <dd>{when(s.lastFinishedAt)}</dd>
        <dt>Version applied</dt>
        <dd>{s.versionApplied ? <code>{s.versionApplied}</code> : '—'}</dd>
        <dt>Applied by job</dt>
        <dd>{s.lastAppliedJobId ? <JobLink id={s.lastAppliedJobId} /> : '—'}</dd>
      </dl>
    </section>
  );
}

/** The last applied job's outputs: those the status carries, or else that job's own. */
function OutputsPanel({ status: s }: { status: ResourceStatus }) {
  const caption = 'Outputs of the last applied job';
  return (
    <section className="panel" aria-labelledby="resource-outputs">
      <h2 id="resource-outputs">Outputs</h2>
      {s.outputs ? (
        <OutputsTable outputs={s.outputs} caption={caption} />
      ) : s.lastAppliedJobId ? (
        <JobOutputs jobId={s.lastAppliedJobId} caption={caption} />
      ) : (
        <p className="muted">No applied job yet, so no outputs.</p>
      )}
    </section>
  );
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
    const body = { lockId: l.lock.id, reason: reason.trim() };
    const answer = await outcome(() => api.POST('/v1/orgs/{org}/envs/{env}/resources/{resourceId}/state-lock/force-unlock', { params: { path: stack }, body }));
    if (answer.data) {
      setReleased(answer.data.released);
      setReason('');
    } else {
      setUnlockError(`Could not release the lock: ${answer.problem.detail}`);
    }
    lock.refresh();
  };

  return (
    <section className="panel" aria-labelledby="resource-lease">
      <h2 id="resource-lease">Lease and state lock</h2>
      <h3>Stack lease</h3>
      {lease ? (
        <dl className="facts">
          <dt>Held by</dt>
          <dd>
            <JobLink id={lease.holder} />
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
                  <JobLink id={l.leftBy.jobId} /> ({l.leftBy.phase === 'completed' ? l.leftBy.result : l.leftBy.phase.replace(/_/g, ' ')})
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
                  Job <JobLink id={l.stackHeldBy} /> holds the stack and its run owns the lock: cancel that job instead.
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
    const answer = await outcome(() => api.POST('/v1/orgs/{org}/envs/{env}/resources/{resourceId}/drift-checks', { params: { path: stack } }));
    setChecking(false);
    if (answer.data) navigate(jobPath(answer.data.metadata.id));
    else setProblem(answer.problem);
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
              <JobLink id={d.jobId} />
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

/** The resource's jobs, newest first, ten at a time; live while any on the page is unfinished. */
function JobHistory({ stack, onActive }: { stack: Stack; onActive(active: boolean): void }) {
  const [cursor, setCursor] = useState<string | undefined>();
  return (
    <section className="panel" aria-labelledby="resource-history">
      <h2 id="resource-history">Job history</h2>
      <JobList
        query={{ ...stack, limit: 10 }}
        cursor={cursor}
        onCursor={setCursor}
        columns={['job', 'trigger', 'version', 'state', 'submittedBy', 'created', 'duration']}
        caption={`Jobs of ${stack.resourceId}, newest first`}
        empty={<p className="muted">No jobs.</p>}
        pagerLabel="Job history pages"
        onActive={onActive}
      />
    </section>
  );
}
