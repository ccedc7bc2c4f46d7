/**
 * The console reads the API's approval rules ahead (console/src/components/job/decide.ts) so it offers only what the
 * API would accept. This holds the two to each other: over jobs that vary every input the rules read (approver list
 * and environments, distinct-approver rule and who submitted, quorum and who has approved, decision, cancel, phase,
 * expiry), the console offers Approve or Reject to a principal with the approver role exactly when the API's
 * authorizeDecider and applyDecision accept that decision from them.
 */
import { decisionRight } from '../../console/src/components/job/decide';
import { applyDecision, authorizeDecider } from '../../lambdas/approvals/approval-rules';
import type { StackJob } from '../../lambdas/domain/schemas';
import { makeJob, NOW } from '../support/domain-fixtures';

const PEOPLE = ['pat@acmecorp.example', 'lee@acmecorp.example', 'sam@acmecorp.example', 'user@company.com'];

function awaiting(): StackJob {
  const job = makeJob();
  job.status = {
    ...job.status,
    phase: 'awaiting_approval',
    approval: { id: 'apr_1', requestedAt: NOW.toISOString(), expiresAt: new Date(NOW.getTime() + 3600_000).toISOString(), planDigest: 'd'.repeat(64) },
  };
  return job;
}

/** Every variation of the inputs the rules read, one at a time and in a few combinations. */
function variations(): Array<[string, StackJob]> {
  const out: Array<[string, StackJob]> = [];
  const add = (name: string, change: (j: StackJob) => void) => {
    const j = awaiting();
    change(j);
    out.push([name, j]);
  };
  const policy = (j: StackJob) => j.spec.essentials.flowControlPolicy;
  const approval = (j: StackJob) => j.status.approval!;
  add('open, anyone with the role', () => undefined);
  add('approver list', (j) => (policy(j).approvers = [{ subject: PEOPLE[0] }, { subject: PEOPLE[1], environments: ['staging'] }]));
  add('approver list for this env', (j) => (policy(j).approvers = [{ subject: PEOPLE[1], environments: ['production'] }]));
  add('distinct, submitted by pat', (j) => {
    policy(j).requireDistinctApprover = true;
    j.metadata.submittedBy = PEOPLE[0];
  });
  add('distinct, earlier submitter lee', (j) => {
    policy(j).requireDistinctApprover = true;
    j.metadata.submitters = [PEOPLE[1]];
  });
  add('distinct off, submitted by pat', (j) => (j.metadata.submittedBy = PEOPLE[0]));
  add('quorum of 2, pat approved', (j) => {
    approval(j).required = 2;
    approval(j).approvals = [{ decision: 'approved', by: PEOPLE[0], at: NOW.toISOString(), channel: 'api' }];
  });
  add('quorum of 3 with a list', (j) => {
    approval(j).required = 3;
    policy(j).approvers = [{ subject: PEOPLE[0] }, { subject: PEOPLE[2] }];
  });
  add('already decided', (j) => (approval(j).decision = { decision: 'approved', by: PEOPLE[2], at: NOW.toISOString(), channel: 'api' }));
  add('cancel requested', (j) => (j.status.cancelRequested = { by: PEOPLE[2], at: NOW.toISOString() }));
  add('expired', (j) => (approval(j).expiresAt = NOW.toISOString()));
  add('running', (j) => (j.status.phase = 'running'));
  return out;
}

const accepts = (job: StackJob, subject: string, decision: 'approved' | 'rejected'): boolean => {
  try {
    authorizeDecider(job, { subject, channel: 'api' });
    applyDecision(job, decision, { subject, channel: 'api' }, NOW);
    return true;
  } catch {
    return false;
  }
};

describe("the console's approval rules and the API's", () => {
  it.each(variations())('agree for every approver on: %s', (_name, job) => {
    for (const subject of PEOPLE) {
      const right = decisionRight(job as never, subject, true, NOW.getTime());
      expect(right.offered).toBe(true);
      const blocked = right.offered ? right.blocked : undefined;
      const approveBlocked = right.offered ? right.approveBlocked : undefined;
      expect({ subject, approve: !blocked && !approveBlocked, reject: !blocked }).toEqual({
        subject,
        approve: accepts(job, subject, 'approved'),
        reject: accepts(job, subject, 'rejected'),
      });
    }
  });

  it('offers nothing to a principal without the approver role', () => {
    expect(decisionRight(awaiting() as never, PEOPLE[0], false, NOW.getTime())).toEqual({ offered: false });
  });
});
