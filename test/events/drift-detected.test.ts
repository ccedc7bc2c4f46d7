/**
 * The Stack Drift Detected subscriber with fakes at its edges: the DriftDetected metric (Powertools), the notice in the
 * environment's approval channel, what it logs when Slack fails (never the error's text, which could carry what was
 * sent), and the remediation refusals that need no submission.
 */
import { Metrics } from '@aws-lambda-powertools/metrics';
import {
  handleDriftDetected,
  isDriftDetected,
  METRIC_DRIFT_DETECTED,
  PowertoolsDriftMetrics,
  type DriftDetectedDeps,
} from '../../lambdas/events/drift-detected';
import type { SlackMessage } from '../../lambdas/approvals/ports';
import type { StackJob } from '../../lambdas/domain/schemas';
import { MemoryCatalog } from '../support/domain-fixtures';

const detail = (o: Record<string, unknown> = {}) => ({
  jobId: 'sj_check',
  org: 'acmecorp',
  env: 'production',
  resourceId: 'eks_01',
  checkedAt: '2026-03-02T03:00:05.000Z',
  total: 12,
  resources: Array.from({ length: 12 }, (_, i) => ({ address: `aws_s3_bucket.b${i}`, actions: ['update'] })),
  remediate: 'none',
  scheduleId: 'nightly',
  ...o,
});
const event = (d = detail()) => ({
  version: '0',
  id: 'e1',
  source: 'stackjobs',
  'detail-type': 'Stack Drift Detected',
  account: '1',
  region: 'us-east-1',
  detail: d,
});

function deps(o: { channel?: string; slackFails?: Error; jobs?: Record<string, StackJob> } = {}) {
  const posted: SlackMessage[] = [];
  const lines: Array<{ level: string; message: string; extra: unknown }> = [];
  const metrics = new Metrics({ namespace: 'StackJobs', serviceName: 'drift' });
  const added = jest.spyOn(metrics, 'addMetric');
  jest.spyOn(metrics, 'publishStoredMetrics').mockImplementation(() => metrics);
  const d: DriftDetectedDeps = {
    jobs: { get: async (id: string) => (o.jobs?.[id] ? { job: o.jobs[id] } : undefined), newestInStack: async () => undefined } as never,
    submission: {} as never,
    catalog: new MemoryCatalog().add('org-settings', 'acmecorp', { org: 'acmecorp', approvalChannels: o.channel ? { production: o.channel } : {} }),
    slack: {
      post: async (m) => {
        if (o.slackFails) throw o.slackFails;
        posted.push(m);
        return { ts: '1.2', channel: m.channel };
      },
      update: async () => undefined,
    },
    log: {
      info: (message: string, extra?: unknown) => lines.push({ level: 'info', message, extra }),
      warn: (message: string, extra?: unknown) => lines.push({ level: 'warn', message, extra }),
      error: (message: string, extra?: unknown) => lines.push({ level: 'error', message, extra }),
    } as never,
    metrics: new PowertoolsDriftMetrics(metrics),
  };
  return { d, posted, lines, added };
}

it('counts DriftDetected and posts a notice in the approval channel naming the drifted resources (the first ten, and how many more)', async () => {
  const f = deps({ channel: 'C0PROD' });
  const out = await handleDriftDetected(f.d, event());
  expect(f.added).toHaveBeenCalledWith(METRIC_DRIFT_DETECTED, 'Count', 1);
  expect(out).toEqual({ remediation: { kind: 'none' }, notice: { channel: 'C0PROD', ts: '1.2' } });
  expect(f.posted).toHaveLength(1);
  const text = JSON.stringify(f.posted[0]);
  expect(f.posted[0].channel).toBe('C0PROD');
  expect(text).toContain('Drift in acmecorp/production: eks_01');
  expect(text).toContain('aws_s3_bucket.b9');
  expect(text).not.toContain('aws_s3_bucket.b10');
  expect(text).toContain('and 2 more');
  expect(text).toContain('sj_check');
});

it('counts it without a channel (nothing posted, a warning), and when Slack fails logs only the error name and code', async () => {
  const none = deps();
  expect((await handleDriftDetected(none.d, event()))?.notice).toBeUndefined();
  expect(none.added).toHaveBeenCalledWith(METRIC_DRIFT_DETECTED, 'Count', 1);
  expect(none.lines.map((l) => l.message)).toContain(
    'no Slack approval channel is configured for this org/environment (org-settings approvalChannels); no drift notice posted',
  );

  const secret = 'xoxb-would-never-be-in-an-error-but-if-it-were';
  const failing = deps({
    channel: 'C0PROD',
    slackFails: Object.assign(new Error(`invalid_auth for ${secret}`), { code: 'slack_webapi_platform_error', data: { error: 'invalid_auth' } }),
  });
  expect(await handleDriftDetected(failing.d, event())).toMatchObject({ notice: undefined });
  expect(JSON.stringify(failing.lines)).not.toContain(secret);
  expect(failing.lines.find((l) => l.level === 'error')?.extra).toMatchObject({
    error: 'Error',
    code: 'slack_webapi_platform_error',
    slackError: 'invalid_auth',
  });
});

it('with remediate: plan, submits nothing when the check names no job it was made from, and says so in the notice', async () => {
  const f = deps({ channel: 'C0PROD', jobs: { sj_check: { spec: { driftCheck: { remediate: 'plan' } } } as StackJob } });
  const out = await handleDriftDetected(f.d, event(detail({ remediate: 'plan' })));
  expect(out?.remediation).toEqual({ kind: 'refused', why: 'drift check sj_check names no job it was made from' });
  expect(JSON.stringify(f.posted[0])).toContain('not submitted');
});

it('takes only the app’s own drift events (what the rule matches), and ignores anything else', async () => {
  expect(isDriftDetected({ source: 'stackjobs', detailType: 'Stack Drift Detected', detail: detail() })).toBe(true);
  expect(isDriftDetected({ source: 'someone-else', detailType: 'Stack Drift Detected', detail: detail() })).toBe(false);
  expect(isDriftDetected({ source: 'stackjobs', detailType: 'Stack Job Status Changed', detail: detail() })).toBe(false);
  const f = deps({ channel: 'C0PROD' });
  expect(await handleDriftDetected(f.d, { ...event(), source: 'someone-else' })).toBeUndefined();
  expect(f.added).not.toHaveBeenCalled();
  expect(f.posted).toHaveLength(0);
});
