/**
 * The approval: who may approve under the job's policy, the distinct-approver rule, the quorum, the time left, and
 * Approve / Reject with an optional comment behind a confirmation. Offered only to approvers; disabled, with the reason,
 * for an approver who may not decide this job. Once decided, the decision as it was recorded.
 */
import { useState } from 'react';
import { must, type ApiError, type StackJob } from '../../api/client';
import { useMe } from '../../auth/session';
import { ConfirmDialog, ErrorNote, useNow } from '../common';
import { duration, when } from '../../format';
import { decisionRight, excludedApprovers, quorumOf } from './decide';
import './job.css';

type Verb = 'approve' | 'reject';
type Recorded = NonNullable<NonNullable<StackJob['status']['approval']>['decision']>;

export function ApprovalPanel({ job, onDecided }: { job: StackJob; onDecided(): void }) {
  const approval = job.status.approval;
  if (job.status.phase !== 'awaiting_approval' && !approval?.decision) return null;
  return (
    <section className="panel approval" aria-labelledby="approval-title">
      <h2 id="approval-title">Approval</h2>
      {approval?.decision ? <DecisionRecord decision={approval.decision} /> : <OpenApproval job={job} onDecided={onDecided} />}
    </section>
  );
}

function DecisionRecord({ decision }: { decision: Recorded }) {
  return (
    <p>
      <strong className={decision.decision === 'approved' ? 'state-succeeded' : 'state-failed'}>
        {decision.decision === 'approved' ? 'Approved' : 'Rejected'}
      </strong>{' '}
      by {decision.by} at {when(decision.at)} (through {decision.channel === 'api' ? 'the API' : 'Slack'})
      {decision.comment ? (
        <>
          : <q>{decision.comment}</q>
        </>
      ) : (
        '.'
      )}
    </p>
  );
}

function OpenApproval({ job, onDecided }: { job: StackJob; onDecided(): void }) {
  const { api, me, can } = useMe();
  const now = useNow();
  const [comment, setComment] = useState('');
  const [confirming, setConfirming] = useState<Verb | undefined>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  const { org, env, id } = job.metadata;
  const policy = job.spec.essentials.flowControlPolicy;
  const approval = job.status.approval;
  const right = decisionRight(job, me.subject, can(org, 'approve'), now);
  const blocked = right.offered ? right.blocked : undefined;
  const approveBlocked = right.offered ? right.approveBlocked : undefined;
  const { required, approvals } = quorumOf(job);

  const decide = async (verb: Verb) => {
    setConfirming(undefined);
    setBusy(true);
    setError(undefined);
    const init = { params: { path: { id } }, body: comment.trim() ? { comment: comment.trim() } : {} };
    try {
      must(verb === 'approve' ? await api.POST('/v1/stack-jobs/{id}/approve', init) : await api.POST('/v1/stack-jobs/{id}/reject', init));
      setComment('');
      onDecided();
    } catch (e) {
      setError(e as ApiError);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <dl className="facts">
        <dt>Who may approve</dt>
        <dd>
          {policy.approvers.length === 0 ? (
            `anyone with the approver role in ${org}`
          ) : (
            <ul className="plain">
              {policy.approvers.map((a) => (
                <li key={a.subject}>
                  {a.subject} <span className="muted">{a.environments ? `(${a.environments.join(', ')})` : '(every environment)'}</span>
                  {a.environments && !a.environments.includes(env) ? <span className="muted"> — not for {env}</span> : null}
                </li>
              ))}
            </ul>
          )}
        </dd>
        <dt>Distinct approver</dt>
        <dd>{`always required: ${excludedApprovers(job).join(', ')} may not approve (who made or submitted the change)`}</dd>
        {required > 1 && (
          <>
            <dt>Approvals</dt>
            <dd>
              {approvals.length} of {required} distinct approvals
              {approvals.length > 0 && `: ${approvals.map((a) => `${a.by} (${when(a.at)})`).join(', ')}`}
            </dd>
          </>
        )}
        {approval && (
          <>
            <dt>Expires</dt>
            <dd>
              {Date.parse(approval.expiresAt) > now ? (
                <>
                  in <strong>{duration(Date.parse(approval.expiresAt) - now)}</strong>, at {when(approval.expiresAt)}
                </>
              ) : (
                <>closed at {when(approval.expiresAt)}</>
              )}{' '}
              <span className="muted">(waiting since {when(approval.requestedAt)})</span>
            </dd>
          </>
        )}
      </dl>
      {!right.offered ? (
        <p className="notice">You cannot approve: you do not hold the approver role in {org}.</p>
      ) : (
        <>
          {blocked && (
            <p className="notice" id="decide-blocked">
              You cannot decide this job: {blocked}
            </p>
          )}
          {approveBlocked && (
            <p className="notice" id="approve-blocked">
              You cannot approve again: {approveBlocked}
            </p>
          )}
          <label className="comment">
            Comment
            <textarea
              value={comment}
              rows={2}
              maxLength={2000}
              disabled={Boolean(blocked) || busy}
              aria-describedby="comment-hint"
              onChange={(e) => setComment(e.target.value)}
            />
          </label>
          <p id="comment-hint" className="muted">
            Optional: recorded with your decision.
          </p>
          <div className="actions">
            <button
              type="button"
              className="primary"
              disabled={Boolean(blocked ?? approveBlocked) || busy}
              aria-describedby={blocked ? 'decide-blocked' : approveBlocked ? 'approve-blocked' : undefined}
              onClick={() => setConfirming('approve')}
            >
              Approve
            </button>
            <button
              type="button"
              className="danger"
              disabled={Boolean(blocked) || busy}
              aria-describedby={blocked ? 'decide-blocked' : undefined}
              onClick={() => setConfirming('reject')}
            >
              Reject
            </button>
          </div>
          <ErrorNote error={error} />
        </>
      )}
      {confirming && (
        <ConfirmDialog
          open
          title={confirming === 'approve' ? 'Approve this plan?' : 'Reject this plan?'}
          confirmLabel={confirming === 'approve' ? 'Yes, approve' : 'Yes, reject'}
          onConfirm={() => void decide(confirming)}
          onCancel={() => setConfirming(undefined)}
        >
          <p>
            {confirming === 'reject'
              ? `The job ends cancelled and nothing is applied to ${job.spec.apiResourceInfo.name} in ${env}.`
              : approvals.length + 1 < required
                ? `Your approval is recorded; the plan then needs ${required - approvals.length - 1} more distinct approver${required - approvals.length - 1 === 1 ? '' : 's'}.`
                : `The job applies the plan it showed (digest ${job.status.plan?.digest.slice(0, 12) ?? 'unknown'}) to ${job.spec.apiResourceInfo.name} in ${env}.`}
          </p>
          <p>
            {comment.trim() ? (
              <>
                Your comment: <q>{comment.trim()}</q>
              </>
            ) : (
              'No comment.'
            )}
          </p>
        </ConfirmDialog>
      )}
    </>
  );
}
