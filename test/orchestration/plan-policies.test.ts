/**
 * Plan policies in the synthesized state machine (aws-local-stepfunctions, the real workflow steps, dynalite, a fake
 * runner): Record Preview evaluates the job's frozen policies on the plan document the runner stored, between the plan
 * and anything else; a deny or a rule that cannot be evaluated ends the job before any approval, a warning goes on, a
 * require_approvals rule makes even a job that never pauses wait for approvers; and such a job never previews and
 * applies in one runner task.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { extractStateMachine, type ExtractedStateMachine } from '../../infra/asl';
import { STATE } from '../../infra/constructs/state-machine';
import { decideApproval } from '../../lambdas/approvals/decide';
import { noApprovalMetrics } from '../../lambdas/approvals/ports';
import { ConflictError } from '../../lambdas/domain/errors';
import { stackJobSchema, type FrozenPlanPolicy, type StackJob } from '../../lambdas/domain/schemas';
import { asDriftCheck, stackKeyOfJob } from '../../lambdas/domain/stack-job';
import { acquireLock, runsInOneTask, type WorkflowDeps } from '../../lambdas/workflow/lifecycle';
import { startDynamo, type TestDynamo } from './support/dynamo';
import { digestOf, eventually, LocalExecutor, makeDeps, recordingPublisher } from './support/executor';
import { makeJob, type JobOptions } from './support/jobs';

let dynamo: TestDynamo;
let extracted: ExtractedStateMachine;
let executor: LocalExecutor;
let deps: WorkflowDeps;
let seq = 0;
/** What the fake runner "stored" as each job's plan.json. */
const documents = new Map<string, Record<string, unknown>>();

beforeAll(async () => {
  extracted = extractStateMachine();
  dynamo = await startDynamo();
});
afterAll(() => dynamo.stop());
beforeEach(() => {
  executor = new LocalExecutor(extracted);
  deps = { ...makeDeps(dynamo, recordingPublisher()), plans: { getPlanDocument: async (jobId) => documents.get(jobId) } };
});
afterEach(() => executor.broker.releaseAll());

const fixture = (name: string) =>
  JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'terraform', 'show-json', `${name}.json`), 'utf8')) as Record<string, unknown>;

const rule = (name: string, effect: 'deny' | 'warn' | 'require_approvals', expression: string, approvals?: number) => ({
  name,
  effect,
  expression,
  message: `${name}: ${effect}`,
  ...(approvals ? { approvals } : {}),
});
const NO_DELETES: FrozenPlanPolicy = {
  id: 'no-deletes',
  source: 'platform',
  selector: { level: 'platform' },
  rules: [rule('deletes', 'deny', "plan.resources.exists(r, 'delete' in r.actions)")],
};

/** A queued job with frozen plan policies whose plan document is `plan`; by default it never pauses. */
async function submit(policies: FrozenPlanPolicy[], plan: string | undefined, options: JobOptions = {}): Promise<StackJob> {
  const base = makeJob({ resourceId: `pp-${process.pid}-${++seq}`, pauseBetweenPreviewAndUpdate: false, ...options });
  const job = stackJobSchema.parse({ ...base, spec: { ...base.spec, essentials: { ...base.spec.essentials, planPolicies: policies } } });
  if (plan) documents.set(job.metadata.id, fixture(plan));
  expect(await deps.jobs.create(job)).toBe(true);
  return job;
}
const load = async (id: string) => (await deps.jobs.require(id)).job;
const phasesRun = (id: string) => executor.runnerCalls.filter((c) => c.jobId === id).map((c) => `${c.phase}${c.env.STACKJOBS_THEN_UPDATE ? '+update' : ''}`);

describe('a job with plan policies', () => {
  it('never previews and applies in one runner task, though its flow control never pauses; a drift check made from it does', async () => {
    const job = await submit([NO_DELETES], 'basic-create');
    expect(runsInOneTask(job)).toBe(false);
    expect(runsInOneTask({ ...job, spec: { ...job.spec, essentials: { ...job.spec.essentials, planPolicies: undefined } } })).toBe(true);
    const check = asDriftCheck(job, { remediate: 'none' });
    expect(check.spec.essentials.planPolicies).toBeUndefined();
    expect(runsInOneTask(check)).toBe(true);
    const lock = await acquireLock(deps, job.metadata.id, 0);
    expect(lock).toMatchObject({ outcome: 'acquired', preview: true, oneTask: false });
    await deps.locks.release(stackKeyOfJob(job), job.metadata.id, (lock as { fencingToken: number }).fencingToken);
  });

  it('ends failed with reason policy_denied before any approval when a deny rule holds: no update runs, the messages say why', async () => {
    const job = await submit([NO_DELETES], 'basic-delete', { pauseBetweenPreviewAndUpdate: true });
    const result = await executor.start(job.metadata.id, deps).result;
    const done = await load(job.metadata.id);
    expect(done.status).toMatchObject({
      phase: 'completed',
      result: 'failed',
      reason: 'policy_denied',
      failure: { operation: 'policy', message: 'denied by policy no-deletes rule deletes: deletes: deny' },
    });
    expect(done.status.approval).toBeUndefined();
    expect(phasesRun(job.metadata.id)).toEqual(['preview']);
    expect(done.status.operations.find((o) => o.name === 'apply')).toMatchObject({ result: 'skipped' });
    expect(done.status.policy).toEqual({
      evaluatedAt: expect.any(String),
      planDigest: digestOf(job.metadata.id),
      outcome: 'denied',
      results: [{ policy: 'no-deletes', source: 'platform', rule: 'deletes', effect: 'deny', passed: false, message: 'deletes: deny' }],
    });
    expect(await deps.locks.getLease(stackKeyOfJob(job))).toBeUndefined();
    // The outcome state the Preview Outcome choice took.
    expect(result).toMatchObject({ outcome: { kind: 'policy_denied' } });
    expect(extracted.definition.States[STATE.policyDenied]).toMatchObject({ Type: 'Pass', Next: STATE.finishJob });
  });

  it('goes on with a warning recorded (and previews and updates in two tasks) when only a warn rule holds', async () => {
    const job = await submit([{ ...NO_DELETES, rules: [rule('deletes', 'warn', "plan.resources.exists(r, 'delete' in r.actions)")] }], 'basic-delete');
    await executor.start(job.metadata.id, deps).result;
    const done = await load(job.metadata.id);
    expect(done.status).toMatchObject({ phase: 'completed', result: 'succeeded', reason: 'succeeded' });
    expect(done.status.policy).toMatchObject({ outcome: 'warned', results: [{ rule: 'deletes', effect: 'warn', passed: false }] });
    expect(phasesRun(job.metadata.id)).toEqual(['preview', 'update']);
  });

  it('applies when every rule passes', async () => {
    const job = await submit([NO_DELETES], 'basic-create');
    await executor.start(job.metadata.id, deps).result;
    expect((await load(job.metadata.id)).status).toMatchObject({ result: 'succeeded', policy: { outcome: 'passed' } });
  });

  it('makes a job that never pauses wait for the distinct approvers a require_approvals rule asks for', async () => {
    const job = await submit(
      [{ ...NO_DELETES, rules: [rule('adds', 'require_approvals', "plan.resources.exists(r, 'create' in r.actions)", 2)] }],
      'basic-create',
    );
    const run = executor.start(job.metadata.id, deps);
    const waiting = await eventually(async () => {
      const j = await load(job.metadata.id);
      if (j.status.phase === 'completed') throw new Error(JSON.stringify(j.status));
      return j.status.phase === 'awaiting_approval' ? j : undefined;
    });
    expect(waiting.status.approval).toMatchObject({ required: 2, planDigest: digestOf(job.metadata.id) });
    expect(waiting.status.policy).toMatchObject({ outcome: 'warned', requiredApprovals: 2 });
    const decisions = {
      jobs: deps.jobs,
      approvalItems: deps.approvalItems,
      tasks: {
        succeed: (token: string, output: Record<string, unknown>) => executor.broker.respond(token, output),
        fail: async (token: string, error: string, cause: string) => executor.broker.fail(token, error, cause),
      },
      events: deps.events,
      clock: deps.clock,
      log: { info: () => undefined, warn: () => undefined, error: () => undefined },
      metrics: noApprovalMetrics,
    };
    const decide = (subject: string) => decideApproval(decisions, { jobId: job.metadata.id, decision: 'approved', decider: { subject, channel: 'api' } });
    const first = await decide('one@acmecorp.example');
    expect(first.status.phase).toBe('awaiting_approval');
    expect(first.status.approval?.decision).toBeUndefined();
    expect(first.status.approval?.approvals).toEqual([
      { decision: 'approved', by: 'one@acmecorp.example', at: expect.any(String), channel: 'api', planDigest: digestOf(job.metadata.id) },
    ]);
    // The same approver twice does not count.
    await expect(decide('one@acmecorp.example')).rejects.toThrow(ConflictError);
    await expect(decide('one@acmecorp.example')).rejects.toThrow('has already approved this plan; a plan policy requires 2 distinct approvers (1 of 2 so far)');
    expect(phasesRun(job.metadata.id)).toEqual(['preview']);
    const second = await decide('two@acmecorp.example');
    expect(second.status.approval?.decision).toMatchObject({ decision: 'approved', by: 'two@acmecorp.example' });
    expect(second.status.approval?.approvals?.map((a) => a.by)).toEqual(['one@acmecorp.example', 'two@acmecorp.example']);
    await run.result;
    expect((await load(job.metadata.id)).status).toMatchObject({ phase: 'completed', result: 'succeeded' });
    expect(phasesRun(job.metadata.id)).toEqual(['preview', 'update']);
  });

  it('ends failed with reason policy_check_failed, naming the rule and the cost limit, when an expensive rule is stopped', async () => {
    const range = `[${Array.from({ length: 60 }, (_, i) => i).join(',')}]`;
    const expensive = `${range}.all(a, ${range}.all(b, ${range}.all(c, a + b + c >= 0)))`;
    const job = await submit([{ ...NO_DELETES, rules: [rule('costly', 'warn', expensive)] }], 'basic-create');
    await executor.start(job.metadata.id, deps).result;
    const done = await load(job.metadata.id);
    expect(done.status).toMatchObject({
      phase: 'completed',
      result: 'failed',
      reason: 'policy_check_failed',
      failure: { operation: 'policy', message: 'policy no-deletes rule costly: stopped by the cost limit: more than 50,000 evaluation steps' },
    });
    expect(phasesRun(job.metadata.id)).toEqual(['preview']);
  });

  it('does not let a plan through unchecked when its document cannot be read', async () => {
    const job = await submit([NO_DELETES], undefined);
    await executor.start(job.metadata.id, deps).result;
    const done = await load(job.metadata.id);
    expect(done.status).toMatchObject({
      reason: 'policy_check_failed',
      failure: { message: 'policy no-deletes rule deletes: the preview stored no plan document' },
    });
    expect(phasesRun(job.metadata.id)).toEqual(['preview']);
  });

  it('does not evaluate a plan without changes (nothing would be applied)', async () => {
    const job = await submit([NO_DELETES], 'basic-delete');
    await executor.start(job.metadata.id, deps, { preview: { hasChanges: false } }).result;
    const done = await load(job.metadata.id);
    expect(done.status).toMatchObject({ reason: 'no_changes' });
    expect(done.status.policy).toBeUndefined();
  });
});
