import { describe, expect, it } from 'vitest';
import { decisionRight, excludedApprovers } from './decide';
import { awaitingApproval } from '../../test/support';

const NOW = Date.now();

describe('decisionRight', () => {
  it('offers nothing to a principal without the approver role', () => {
    expect(decisionRight(awaitingApproval(), 'pat@acmecorp.example', false, NOW)).toEqual({ offered: false });
  });

  it('lets any approver decide when the policy names no approvers', () => {
    expect(decisionRight(awaitingApproval(), 'pat@acmecorp.example', true, NOW)).toEqual({ offered: true });
  });

  it('blocks an approver the policy does not list, and one listed for other environments', () => {
    const job = awaitingApproval();
    job.spec.essentials.flowControlPolicy.approvers = [{ subject: 'lee@acmecorp.example' }, { subject: 'pat@acmecorp.example', environments: ['staging'] }];
    expect(decisionRight(job, 'sam@acmecorp.example', true, NOW)).toEqual({
      offered: true,
      blocked: 'you are not an approver under the policy for acmecorp/production.',
    });
    expect(decisionRight(job, 'pat@acmecorp.example', true, NOW)).toEqual({ offered: true, blocked: 'you are an approver for staging, not for production.' });
    expect(decisionRight(job, 'lee@acmecorp.example', true, NOW)).toEqual({ offered: true });
  });

  it("keeps the change's author, its submitter and earlier submitters from deciding, whatever requireDistinctApprover says", () => {
    const job = awaitingApproval();
    job.spec.essentials.flowControlPolicy.requireDistinctApprover = false;
    job.metadata.submittedBy = 'ops@acmecorp.example';
    job.metadata.submitters = ['first@acmecorp.example'];
    expect(decisionRight(job, 'user@company.com', true, NOW)).toMatchObject({ blocked: 'nobody approves their own change, and you made this change.' });
    expect(decisionRight(job, 'ops@acmecorp.example', true, NOW)).toMatchObject({
      blocked: 'nobody approves their own change, and you submitted this job.',
    });
    expect(decisionRight(job, 'first@acmecorp.example', true, NOW)).toMatchObject({ blocked: /an earlier run of this change/ });
    expect(decisionRight(job, 'pat@acmecorp.example', true, NOW)).toEqual({ offered: true });
    expect(excludedApprovers(job)).toEqual(['user@company.com', 'ops@acmecorp.example', 'first@acmecorp.example']);
  });

  it('never lets the submitter decide, even under a policy that stored requireDistinctApprover: false', () => {
    const job = awaitingApproval();
    job.spec.essentials.flowControlPolicy.requireDistinctApprover = false;
    job.metadata.submittedBy = 'pat@acmecorp.example';
    expect(decisionRight(job, 'pat@acmecorp.example', true, NOW)).toMatchObject({
      offered: true,
      blocked: 'nobody approves their own change, and you submitted this job.',
    });
  });

  it('counts an approver once toward a quorum, and still lets them reject, as the API does', () => {
    const job = awaitingApproval();
    job.status.approval = {
      ...job.status.approval!,
      required: 2,
      approvals: [{ decision: 'approved', by: 'pat@acmecorp.example', at: new Date(NOW - 1000).toISOString(), channel: 'api' }],
    };
    const pat = decisionRight(job, 'pat@acmecorp.example', true, NOW);
    expect(pat).toMatchObject({ offered: true, approveBlocked: expect.stringMatching(/already approved this plan \(1 of 2/) });
    expect(pat).not.toHaveProperty('blocked');
    expect(decisionRight(job, 'lee@acmecorp.example', true, NOW)).toEqual({ offered: true });
  });

  it('closes the decision once the window has passed, it was decided, or a cancel is under way', () => {
    const job = awaitingApproval();
    expect(decisionRight(job, 'pat@acmecorp.example', true, Date.parse(job.status.approval!.expiresAt))).toMatchObject({ blocked: /approval window closed/ });
    job.status.cancelRequested = { by: 'ops@acmecorp.example', at: new Date(NOW).toISOString() };
    expect(decisionRight(job, 'pat@acmecorp.example', true, NOW)).toMatchObject({ blocked: /being cancelled \(requested by ops@acmecorp\.example\)/ });
    job.status.approval = {
      ...job.status.approval!,
      decision: { decision: 'rejected', by: 'sam@acmecorp.example', at: new Date(NOW).toISOString(), channel: 'slack' },
    };
    expect(decisionRight(job, 'pat@acmecorp.example', true, NOW)).toMatchObject({ blocked: /already rejected by sam@acmecorp\.example/ });
  });
});
