import { IllegalTransitionError } from '../../lambdas/domain/errors';
import { runPreflight } from '../../lambdas/domain/preflight';
import { stackJobSchema, type StackJob } from '../../lambdas/domain/schemas';
import { freezeStackJob } from '../../lambdas/domain/stack-job';
import { canTransitionJob, JOB_TRANSITIONS, transitionJob, transitionOperation, type JobState } from '../../lambdas/domain/status';
import { change, NOW, preflightDeps } from '../support/domain-fixtures';

async function queuedJob(): Promise<StackJob> {
  const outcome = await runPreflight(change(), preflightDeps());
  return freezeStackJob(change(), outcome, 'sj_01jsrnmwpnnc6n62h06xafcgxv', NOW);
}
const later = new Date(NOW.getTime() + 1000);

describe('job transition table', () => {
  const all: JobState[] = ['queued', 'running', 'awaiting_approval', 'completed'].flatMap((p) =>
    ['tbd', 'succeeded', 'failed', 'cancelled', 'skipped'].map((r) => `${p}/${r}` as JobState),
  );

  it('allows exactly the documented lifecycle (README, The StackJob) and nothing else', () => {
    const allowed = all.flatMap((from) => all.filter((to) => canTransitionJob(from, to)).map((to) => `${from} -> ${to}`)).sort();
    expect(allowed).toEqual(
      [
        'queued/tbd -> queued/tbd',
        'queued/tbd -> running/tbd',
        'queued/tbd -> completed/cancelled',
        'queued/tbd -> completed/failed',
        'running/tbd -> running/tbd',
        'running/tbd -> awaiting_approval/tbd',
        'running/tbd -> completed/succeeded',
        'running/tbd -> completed/failed',
        'running/tbd -> completed/cancelled',
        'running/tbd -> completed/skipped',
        'awaiting_approval/tbd -> awaiting_approval/tbd',
        'awaiting_approval/tbd -> running/tbd',
        'awaiting_approval/tbd -> completed/cancelled',
        'awaiting_approval/tbd -> completed/failed',
      ].sort(),
    );
    expect(Object.keys(JOB_TRANSITIONS)).not.toContain('completed/succeeded');
  });

  it('never leaves a completed job', () => {
    for (const r of ['succeeded', 'failed', 'cancelled', 'skipped'])
      for (const to of all) expect(canTransitionJob(`completed/${r}` as JobState, to)).toBe(false);
  });

  it('cannot complete a queued job as succeeded', () => {
    expect(canTransitionJob('queued/tbd', 'completed/succeeded')).toBe(false);
  });

  it('throws a typed error for an illegal move and leaves the job as it was', async () => {
    const job = await queuedJob();
    const done = transitionJob(transitionJob(job, 'running', 'tbd', later), 'completed', 'succeeded', later);
    expect(() => transitionJob(done, 'running', 'tbd', later)).toThrow(IllegalTransitionError);
    expect(done.status.phase).toBe('completed');
  });

  it('stamps startedAt on first run and closes unfinished operations on completion', async () => {
    const job = await queuedJob();
    const running = transitionOperation(transitionJob(job, 'running', 'tbd', later), 'init', 'running', 'tbd', later);
    expect(running.status.startedAt).toBe(later.toISOString());
    const failed = transitionJob(running, 'completed', 'failed', later, 'operation_failed');
    expect(failed.status.operations.map((o) => `${o.name}:${o.status}/${o.result}`)).toEqual([
      'init:completed/failed',
      'plan:completed/skipped',
      'apply:completed/skipped',
    ]);
    expect(failed.status.reason).toBe('operation_failed');
    expect(stackJobSchema.safeParse(failed).success).toBe(true);
  });
});

describe('operation transitions', () => {
  it('moves pending -> running -> completed with timestamps and a summary', async () => {
    const job = transitionJob(await queuedJob(), 'running', 'tbd', later);
    const started = transitionOperation(job, 'plan', 'running', 'tbd', NOW);
    const summary = { add: 1, change: 0, destroy: 0, replace: 0, unchanged: 2, read: 0, forget: 0, import: 0, outputChanges: 0, resources: [] };
    const finished = transitionOperation(started, 'plan', 'completed', 'succeeded', later, { summary });
    const plan = finished.status.operations.find((o) => o.name === 'plan');
    expect(plan).toEqual({
      name: 'plan',
      status: 'completed',
      result: 'succeeded',
      startedAt: NOW.toISOString(),
      finishedAt: later.toISOString(),
      errors: [],
      summary,
    });
  });

  it('refuses to finish an operation that never started, to restart a finished one, or to touch an absent one', async () => {
    const job = transitionJob(await queuedJob(), 'running', 'tbd', later);
    expect(() => transitionOperation(job, 'plan', 'completed', 'succeeded', later)).toThrow(IllegalTransitionError);
    const done = transitionOperation(transitionOperation(job, 'init', 'running', 'tbd', later), 'init', 'completed', 'succeeded', later);
    expect(() => transitionOperation(done, 'init', 'running', 'tbd', later)).toThrow(IllegalTransitionError);
    expect(() => transitionOperation(job, 'destroy', 'running', 'tbd', later)).toThrow(/absent/);
  });

  it('refuses operation changes on a completed job', async () => {
    const job = transitionJob(transitionJob(await queuedJob(), 'running', 'tbd', later), 'completed', 'cancelled', later);
    expect(() => transitionOperation(job, 'apply', 'running', 'tbd', later)).toThrow(IllegalTransitionError);
  });
});

describe('the frozen snapshot', () => {
  it('has the shape of the README example and validates against the StackJob schema', async () => {
    const job = await queuedJob();
    expect(stackJobSchema.parse(job)).toEqual(job);
    expect(job).toMatchObject({
      apiVersion: 'infra-hub.planton.cloud/v1',
      kind: 'StackJob',
      metadata: {
        id: 'sj_01jsrnmwpnnc6n62h06xafcgxv',
        name: 'eks_01jq5xe4z7farkgenqsh47c1h0',
        org: 'acmecorp',
        env: 'production',
        version: { id: 'ver-01jsrnmrwjn57drj0ekht8hb93', message: 'Scale EKS node group from 3 to 5 nodes' },
      },
      spec: {
        apiResourceInfo: {
          kind: 'aws_eks_cluster',
          id: 'eks_01jq5xe4z7farkgenqsh47c1h0',
          name: 'prod-api-cluster',
          versionId: 'ver-01jsrnmrwjn57drj0ekht8hb93',
          triggerEvent: 'updated',
          eventCreatedBy: 'user@company.com',
        },
        essentials: {
          provisioner: 'terraform',
          iacModule: {
            id: 'iacmod_platform_eks_terraform',
            gitRepo: 'github.com/project-planton/aws-eks',
            branch: 'v2.3.0',
            path: 'terraform',
            rule: 'platform-default',
          },
          backendCredential: {
            kind: 'terraform_backend_credential',
            id: 'tfcred_s3_backend_prod',
            config: { bucket: 'acmecorp-terraform-state', region: 'us-east-1' },
          },
          providerCredential: { kind: 'aws_credential', id: 'awscred_prod_account' },
          flowControlPolicy: {
            previewBeforeUpdate: true,
            pauseBetweenPreviewAndUpdate: true,
            skipRefresh: false,
            source: { level: 'platform', id: 'platform-default' },
          },
        },
        operations: ['init', 'plan', 'apply'],
      },
      status: { phase: 'queued', result: 'tbd' },
    });
  });
});
