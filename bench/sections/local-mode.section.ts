/**
 * BENCH ONLY. The local-mode sections of `npm run bench`, one per child process (local mode sets process.env and
 * the SDK clients are memoized per process): `submission`, `cost`, `latency` or `scale`. Prints one JSON line of results.
 * `cost` and `latency` drive the REAL Terraform (bench/support/tf-modules.ts) on the demo module (kind demo_bucket,
 * examples/modules/demo-bucket, which local mode publishes); `submission` and `scale` the stand-in CLI.
 * Usage: NODE_OPTIONS=--openssl-legacy-provider tsx bench/sections/local-mode.section.ts <section> [args...]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parse } from 'yaml';
import * as clients from '../../lambdas/adapters/aws/clients';
import { documentClient } from '../../lambdas/adapters/dynamodb/client';
import { JobRepository } from '../../lambdas/adapters/dynamodb/job-repository';
import { LockRepository } from '../../lambdas/adapters/dynamodb/lock-repository';
import { ulidIds } from '../../lambdas/domain/ids';
import type { StackJob } from '../../lambdas/domain/schemas';
import { localConfigSchema } from '../../local/config';
import { REPO_ROOT, startLocalMode, type LocalMode, type LocalModeOptions } from '../../local/local-mode';
import { buildStandin } from '../../test/support/standin-iac/build';
import { BENCH_MARK, dynamoAccounting, s3Accounting, tableShape, type DynamoRecord, type Gate, type S3Record } from '../support/accounting';
import type { TableShape } from '../support/dynamo-units';
import { longestChain, SdkCallRecorder } from '../support/sdk-calls';
import { callsFor, countingWrappers, realTerraform } from '../support/tf-modules';

const OPERATOR = 'local-operator-token';
const APPROVER = 'local-approver-token';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The example config, plus environments whose policies skip the approval pause (`nopause`, `scale`). */
function benchConfig() {
  const config = localConfigSchema.parse(parse(readFileSync(join(REPO_ROOT, 'examples/local/stackjobs.yaml'), 'utf8')));
  const base = { previewBeforeUpdate: true, pauseBetweenPreviewAndUpdate: false, skipRefresh: false };
  config.catalog['flow-control-policies'] = [
    ...(config.catalog['flow-control-policies'] ?? []),
    { id: 'bench-nopause', selector: { level: 'environment', org: 'acmecorp', env: 'nopause' }, ...base },
    { id: 'bench-scale', selector: { level: 'environment', org: 'acmecorp', env: 'scale' }, ...base },
  ];
  return config;
}

function change(resourceId: string, env: string, version: string, spec: Record<string, unknown> = { tier: 'standard' }) {
  return {
    resource: { id: resourceId, name: resourceId, org: 'acmecorp', env, version: { id: version, message: `bench ${version}` } },
    kind: 'demo_bucket',
    spec,
    triggerEvent: 'updated',
    createdBy: 'dev@acmecorp.example',
  };
}

interface Ctx {
  local: LocalMode;
  jobs: JobRepository;
  locks: LockRepository;
  runnerEnv: Record<string, string>;
  dynamo?: DynamoRecord[];
  s3?: S3Record[];
}

interface StartOptions {
  /** How long a job waiting for its stack stays parked before it looks on its own (s). */
  parkSeconds: number;
  wrapApiHandler?: LocalModeOptions['wrapApiHandler'];
  /** Count and price every DynamoDB and S3 request (bench/support/accounting.ts). */
  accounting?: boolean;
  runnerEnv?: Record<string, string>;
}

/** Local mode for a section. Without `accounting` no proxy stands between the code and dynalite/s3rver. */
async function start(o: StartOptions): Promise<Ctx> {
  const gate: { current?: Gate } = {};
  const dynamo = o.accounting ? dynamoAccounting(() => gate.current) : undefined;
  const s3 = o.accounting ? s3Accounting() : undefined;
  const runnerEnv: Record<string, string> = o.runnerEnv ?? { STACKJOBS_TERRAFORM_BIN: buildStandin(), STACKJOBS_LOG_FLUSH_SECONDS: '1' };
  const local = await startLocalMode({
    config: benchConfig(),
    inMemory: true,
    runnerEnv,
    timeoutSecondsOverrides: { 'Wait For Stack Lock': o.parkSeconds },
    ...(dynamo && s3 ? { faults: { dynamodb: dynamo.rule, s3: s3.rule } } : {}),
    wrapApiHandler: o.wrapApiHandler,
  });
  // Priced by the tables as local mode created them from the synthesized template: their indexes and projections.
  const shapes = new Map<string, TableShape>();
  for (const t of [local.names.jobsTable, local.names.catalogTable]) shapes.set(t, await tableShape(local.dynamoEndpoint, local.credentials, t));
  gate.current = {
    endpoint: local.dynamoEndpoint,
    credentials: local.credentials,
    shapeOf: (t) => shapes.get(t) ?? { partitionKey: { name: 'pk' }, sortKey: { name: 'sk' }, indexes: [] },
  };
  // The bench's own reads are marked: the accounting leaves them out.
  const db = documentClient({ endpoint: local.dynamoEndpoint, region: 'us-east-1', credentials: local.credentials, customUserAgent: BENCH_MARK });
  return {
    local,
    jobs: new JobRepository(db, local.names.jobsTable),
    locks: new LockRepository(db, local.names.jobsTable),
    runnerEnv,
    ...(dynamo ? { dynamo: dynamo.records } : {}),
    ...(s3 ? { s3: s3.records } : {}),
  };
}

async function call(ctx: Ctx, method: string, path: string, token: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${ctx.local.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}
const post = (ctx: Ctx, path: string, token: string, body?: unknown) => call(ctx, 'POST', path, token, body ?? {});

async function waitFor(ctx: Ctx, id: string, until: (j: StackJob) => boolean, timeoutMs = 120000): Promise<StackJob> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await ctx.jobs.get(id);
    if (found && until(found.job)) return found.job;
    if (Date.now() > deadline) throw new Error(`job ${id} stuck at ${JSON.stringify(found?.job.status)}`);
    await sleep(25);
  }
}

const arnOf = (ctx: Ctx, id: string) => `${ctx.local.names.stateMachineArn.replace(':stateMachine:', ':execution:')}:${id}`;

// ------------------------------------------------------------------ 1. submission

async function submission(rounds: number, perRound: number, concurrency: number) {
  // Every job of this section queues behind a lease held for the whole run, so the measured submissions do not
  // compete with runners for the CPU; its lock wait is long, so queued jobs cost nothing while we measure.
  const recorder = new SdkCallRecorder();
  const ctx = await start({ parkSeconds: 600, wrapApiHandler: (api) => (event) => recorder.inRequest(() => api(event)) });
  for (const [service, client] of Object.entries({
    dynamodb: clients.dynamo(),
    s3: clients.s3(),
    sfn: clients.sfn(),
    secrets: clients.secrets(),
    events: clients.events(),
    sts: clients.sts(),
  }))
    recorder.attach(service, client);
  const stack = 'acmecorp/production/bench_submit';
  await ctx.locks.tryAcquire(stack, ulidIds().next('sj'), new Date(Date.now() + 3_600_000));
  let seq = 0;
  const submit = async () => {
    const t0 = performance.now();
    const res = await post(ctx, '/v1/stack-jobs', OPERATOR, change('bench_submit', 'production', `v${++seq}`));
    if (res.status !== 201) throw new Error(`submission answered ${res.status}: ${JSON.stringify(res.json)}`);
    return { t0, t1: performance.now() };
  };
  for (let i = 0; i < 20; i++) await submit(); // warm-up: module loading, connection pools
  const latency: Array<{ p50: number; p99: number }> = [];
  const throughput: number[] = [];
  let calls: { perSubmission: number; chain: number; chainCalls: string[]; byCommand: Record<string, number> } | undefined;
  for (let r = 0; r < rounds; r++) {
    const ms: number[] = [];
    const counts: number[] = [];
    // The request's own calls only (tagged while the API handled it): the longest chain any request needed.
    let worst: ReturnType<typeof longestChain> | undefined;
    const byCommand: Record<string, number> = {};
    for (let i = 0; i < perRound; i++) {
      const { t0, t1 } = await submit();
      // Let the job's execution take its first look at the lock before the next submission, so the workflow does
      // not compete with the next request for the CPU.
      await sleep(100);
      ms.push(t1 - t0);
      const made = recorder.requestCallsBetween(t0, t1);
      counts.push(made.length);
      for (const c of made) byCommand[`${c.service}.${c.command}`] = (byCommand[`${c.service}.${c.command}`] ?? 0) + 1 / perRound;
      const chain = longestChain(made);
      if (!worst || chain.length > worst.length) worst = chain;
    }
    latency.push({ p50: median(ms), p99: pct(ms, 99) });
    calls = { perSubmission: median(counts), chain: worst?.length ?? 0, chainCalls: worst?.chain ?? [], byCommand };
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next++ < perRound) await submit();
      }),
    );
    throughput.push(perRound / ((performance.now() - started) / 1000));
  }
  await ctx.local.stop();
  return { rounds, perRound, concurrency, latency, throughput, calls };
}

// ------------------------------------------------------------------ 2. cost per job

/** One job's measured cost inputs; bench/index.ts prices them. */
export interface PathCost {
  path: string;
  result: string;
  /** Billed transitions: every state entered, and every retry. */
  transitions: number;
  /** Runner tasks started (ECS Task states entered). */
  runnerTasks: number;
  /** Lambda invocations with their duration; `estimated` when the history does not show it (billed as the median step). */
  lambda: Array<{ entry: string; ms: number; estimated?: boolean }>;
  /** API Gateway requests the job needed (the submission, the approval). */
  apiRequests: number;
  dynamo: {
    reads: number;
    writes: number;
    readUnits: number;
    writeUnits: number;
    tableWriteUnits: number;
    indexWriteUnits: Record<string, number>;
    filteredQueries: number;
    /** Requests of an operation the accounting does not price (none on a job's path so far). */
    unpriced: number;
    bytes: number;
  };
  s3: { tier1: number; tier2: number; free: number; uploadBytes: number };
  /** Status events published to the app's bus. */
  events: number;
  /** What the counting wrappers saw in this job's workspaces. */
  calls: { clones: number; fetches: number; inits: number; terraform: number };
  /** Runner task wall time per Task state (s), from the execution history. */
  runnerSeconds: Record<string, number>;
}

type StateDef = { Type: string; Resource?: string };

async function costs(repeats: number) {
  const terraform = realTerraform();
  const wrapDir = mkdtempSync(join(tmpdir(), 'stackjobs-bench-wrappers-'));
  const wrappers = countingWrappers(wrapDir, terraform.bin);
  const standin = buildStandin();
  const realEnv = { STACKJOBS_TERRAFORM_BIN: wrappers.terraform, PATH: `${wrappers.dir}:${process.env.PATH ?? ''}` };
  const ctx = await start({ parkSeconds: 60, accounting: true, runnerEnv: { ...realEnv } });
  const states = (ctx.local.sfn as unknown as { options: { definition: { States: Record<string, StateDef> } } }).options.definition.States;
  const measure = async (
    path: string,
    env: string,
    resourceId: string,
    version: string,
    o: { approve?: boolean; spec?: Record<string, unknown>; runnerEnv?: Record<string, string> } = {},
  ): Promise<PathCost> => {
    Object.assign(ctx.runnerEnv, realEnv, o.runnerEnv ?? {});
    const from = performance.now();
    const fromWall = new Date().toISOString();
    const apiMs: number[] = [];
    let t = performance.now();
    const res = await post(ctx, '/v1/stack-jobs', OPERATOR, change(resourceId, env, version, o.spec));
    apiMs.push(performance.now() - t);
    if (res.status !== 201) throw new Error(`submission answered ${res.status}: ${JSON.stringify(res.json)}`);
    const id = (res.json as StackJob).metadata.id;
    if (o.approve) {
      await waitFor(ctx, id, (j) => j.status.phase === 'awaiting_approval');
      t = performance.now();
      const decided = await post(ctx, `/v1/stack-jobs/${id}/approve`, APPROVER, {});
      apiMs.push(performance.now() - t);
      if (decided.status >= 300) throw new Error(`approve answered ${decided.status}: ${JSON.stringify(decided.json)}`);
    }
    await ctx.local.sfn.waitFor(arnOf(ctx, id));
    const job = await waitFor(ctx, id, (j) => j.status.phase === 'completed');
    await sleep(300); // the runner's last writes after it reported
    const to = performance.now();

    const history = ctx.local.sfn.history(arnOf(ctx, id));
    const transitions = history.filter((e) => e.type === 'StateEntered' || e.type === 'StateRetried').length;
    const lambda: PathCost['lambda'] = apiMs.map((ms) => ({ entry: 'lambdas/handlers/api.handler.ts', ms }));
    const runnerSeconds: Record<string, number> = {};
    const entered = new Map<string, Date>();
    let runnerTasks = 0;
    for (const e of history) {
      if (!e.state) continue;
      const state = states[e.state];
      const ecs = state?.Type === 'Task' && String(state.Resource).includes(':ecs:');
      if (e.type === 'StateEntered') {
        entered.set(e.state, e.at);
        if (ecs) runnerTasks++;
      }
      if (e.type !== 'StateExited' && e.type !== 'StateFailed' && e.type !== 'StateCaught') continue;
      const began = entered.get(e.state);
      if (!began || state?.Type !== 'Task') continue;
      const ms = e.at.getTime() - began.getTime();
      if (ecs) runnerSeconds[e.state] = (runnerSeconds[e.state] ?? 0) + ms / 1000;
      else if (e.state === 'Request Approval') lambda.push({ entry: 'lambdas/workflow/request-approval.handler.ts', ms: -1, estimated: true });
      else lambda.push({ entry: 'lambdas/workflow/step.handler.ts', ms });
      entered.delete(e.state);
    }
    // Not in the history: the approval Lambda's own time (the state then waits for the decision), and on AWS one
    // runner-stopped Lambda per runner task (its rule matches every stopped runner; local mode calls it only for a
    // runner that died). Both are billed as the median workflow step.
    const stepMedian = median(lambda.filter((l) => l.entry.includes('step.handler')).map((l) => l.ms));
    for (const l of lambda) if (l.ms < 0) l.ms = stepMedian;
    for (let i = 0; i < runnerTasks; i++) lambda.push({ entry: 'lambdas/workflow/runner-stopped.handler.ts', ms: stepMedian, estimated: true });

    const dyn = (ctx.dynamo ?? []).filter((r) => r.at >= from && r.at <= to);
    const isWrite = (op: string) => /^(Put|Update|Delete)/.test(op);
    const indexWriteUnits: Record<string, number> = {};
    for (const r of dyn) for (const [k, v] of Object.entries(r.indexWriteUnits)) indexWriteUnits[k] = (indexWriteUnits[k] ?? 0) + v;
    const writeUnits = dyn.reduce((n, r) => n + r.writeUnits, 0);
    const indexTotal = Object.values(indexWriteUnits).reduce((a, b) => a + b, 0);
    const s3 = (ctx.s3 ?? []).filter((r) => r.at >= from && r.at <= to);
    return {
      path,
      result: `${job.status.result}${job.status.reason ? ` (${job.status.reason})` : ''}`,
      transitions,
      runnerTasks,
      lambda,
      apiRequests: apiMs.length,
      dynamo: {
        reads: dyn.filter((r) => !isWrite(r.op)).length,
        writes: dyn.filter((r) => isWrite(r.op)).length,
        readUnits: dyn.reduce((n, r) => n + r.readUnits, 0),
        writeUnits,
        tableWriteUnits: writeUnits - indexTotal,
        indexWriteUnits,
        filteredQueries: dyn.filter((r) => r.filtered).length,
        unpriced: dyn.filter((r) => r.unpriced).length,
        bytes: dyn.reduce((n, r) => n + r.bytes, 0),
      },
      s3: {
        tier1: s3.filter((r) => r.tier === 'tier1').length,
        tier2: s3.filter((r) => r.tier === 'tier2').length,
        free: s3.filter((r) => r.tier === 'free').length,
        uploadBytes: s3.filter((r) => r.method === 'PUT' || r.method === 'POST').reduce((n, r) => n + r.bytes, 0),
      },
      events: ctx.local.events.filter((e) => e.time >= fromWall).length,
      calls: callsFor(wrappers.log, id),
      runnerSeconds,
    };
  };

  const out: PathCost[][] = [];
  try {
    for (let r = 0; r < repeats; r++) {
      const rid = `bench_cost_${r}`;
      if (r === 0) await measure('warm-up', 'nopause', `${rid}_warm`, 'v1');
      // A job that does not pause, with changes: one runner task. The same spec again is a plan with nothing to do.
      const oneTask = await measure('no pause, with changes', 'nopause', `${rid}_nopause`, 'v1');
      const noChanges = await measure('no pause, no changes', 'nopause', `${rid}_nopause`, 'v2');
      const approval = await measure('preview + approval + apply', 'production', `${rid}_approve`, 'v1', { approve: true });
      const failure = await measure('failure (apply fails; stand-in CLI)', 'nopause', `${rid}_fail`, 'v1', {
        runnerEnv: { STACKJOBS_TERRAFORM_BIN: standin, STANDIN_FAIL: 'apply' },
      });
      delete ctx.runnerEnv.STANDIN_FAIL;
      out.push([approval, oneTask, noChanges, failure]);
    }
  } finally {
    await ctx.local.stop();
    rmSync(wrapDir, { recursive: true, force: true });
  }
  return { terraform, runs: out };
}

// ------------------------------------------------------------------ 3. latency

export interface LatencyRun {
  /** POST /v1/stack-jobs sent -> GET /v1/stack-jobs/{id}/logs first answers with text (ms, client side). */
  firstLogMs: number;
  /** The approval decision's `at` -> the apply operation's `startedAt` (ms, both recorded on the job). */
  approveToApplyMs: number;
  /** POST .../approve sent -> GET /v1/stack-jobs/{id} first shows the apply running (ms, polled every 10 ms). */
  approveToApplySeenMs: number;
  submitToAwaitingMs: number;
  approveToDoneMs: number;
  /** The job as it ended, and its execution's runner tasks (state, start, end), for the wall-time split. */
  job: StackJob;
  tasks: Array<{ state: string; from: string; to: string }>;
}

async function latency(repeats: number) {
  const terraform = realTerraform();
  const ctx = await start({ parkSeconds: 60, runnerEnv: { STACKJOBS_TERRAFORM_BIN: terraform.bin } });
  const states = (ctx.local.sfn as unknown as { options: { definition: { States: Record<string, StateDef> } } }).options.definition.States;
  const getJob = async (id: string) => (await call(ctx, 'GET', `/v1/stack-jobs/${id}`, OPERATOR)).json as StackJob;
  const until = async (id: string, ok: (j: StackJob) => boolean, everyMs: number, timeoutMs = 120000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const j = await getJob(id);
      if (ok(j)) return j;
      if (Date.now() > deadline) throw new Error(`job ${id} stuck at ${JSON.stringify(j.status)}`);
      await sleep(everyMs);
    }
  };
  const applyOf = (j: StackJob) => j.status.operations.find((o) => o.name === 'apply');
  const one = async (resourceId: string): Promise<LatencyRun> => {
    const t0 = performance.now();
    const res = await post(ctx, '/v1/stack-jobs', OPERATOR, change(resourceId, 'production', 'v1'));
    if (res.status !== 201) throw new Error(`submission answered ${res.status}: ${JSON.stringify(res.json)}`);
    const id = (res.json as StackJob).metadata.id;
    let firstLogMs = -1;
    for (const deadline = Date.now() + 60000; Date.now() < deadline; await sleep(20)) {
      const logs = await call(ctx, 'GET', `/v1/stack-jobs/${id}/logs`, OPERATOR);
      if (logs.status === 200 && (logs.json as { text: string }).text.length > 0) {
        firstLogMs = performance.now() - t0;
        break;
      }
    }
    if (firstLogMs < 0) throw new Error(`no log of ${id} within 60 s`);
    await until(id, (j) => j.status.phase === 'awaiting_approval', 50);
    const submitToAwaitingMs = performance.now() - t0;
    const tA = performance.now();
    const decided = await post(ctx, `/v1/stack-jobs/${id}/approve`, APPROVER, {});
    if (decided.status >= 300) throw new Error(`approve answered ${decided.status}: ${JSON.stringify(decided.json)}`);
    await until(id, (j) => applyOf(j)?.status !== 'pending' || j.status.phase === 'completed', 10);
    const approveToApplySeenMs = performance.now() - tA;
    await ctx.local.sfn.waitFor(arnOf(ctx, id));
    const job = await until(id, (j) => j.status.phase === 'completed', 50);
    const approveToDoneMs = performance.now() - tA;
    if (job.status.result !== 'succeeded') throw new Error(`job ${id} ended ${job.status.result}: ${JSON.stringify(job.status.failure)}`);
    const decisionAt = Date.parse(job.status.approval?.decision?.at ?? 'x');
    const applyAt = Date.parse(applyOf(job)?.startedAt ?? 'x');
    const tasks: LatencyRun['tasks'] = [];
    const entered = new Map<string, Date>();
    for (const e of ctx.local.sfn.history(arnOf(ctx, id))) {
      const state = e.state ? states[e.state] : undefined;
      if (!e.state || state?.Type !== 'Task' || !String(state.Resource).includes(':ecs:')) continue;
      if (e.type === 'StateEntered') entered.set(e.state, e.at);
      else if (e.type === 'StateExited' && entered.has(e.state))
        tasks.push({ state: e.state, from: entered.get(e.state)!.toISOString(), to: e.at.toISOString() });
    }
    return { firstLogMs, approveToApplyMs: applyAt - decisionAt, approveToApplySeenMs, submitToAwaitingMs, approveToDoneMs, job, tasks };
  };
  const runs: LatencyRun[] = [];
  try {
    await one('bench_latency_warm');
    for (let r = 0; r < repeats; r++) runs.push(await one(`bench_latency_${r}`));
  } finally {
    await ctx.local.stop();
  }
  return { terraform, runs };
}

// ------------------------------------------------------------------ 5. scale

async function scale(changes: number, stacks: number, waitMs: number) {
  const ctx = await start({ parkSeconds: Math.max(1, Math.round(waitMs / 1000)) });
  Object.assign(ctx.runnerEnv, { STACKJOBS_LOG_FLUSH_SECONDS: '5' });
  const order: Array<{ stack: string; id: string; status: number }> = [];
  const t0 = performance.now();
  // As fast as the API takes them: a pool of concurrent submitters, changes spread round-robin over the stacks.
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let i = next++; i < changes; i = next++) {
        const stack = `bench_scale_${String(i % stacks).padStart(4, '0')}`;
        const res = await post(ctx, '/v1/stack-jobs', OPERATOR, change(stack, 'scale', `v${i}`, { tier: `t${i}` }));
        order.push({ stack, id: (res.json as StackJob).metadata?.id, status: res.status });
      }
    }),
  );
  const submitted = performance.now();
  const ids = order.filter((o) => o.status === 201).map((o) => o.id);
  const arnOf = (id: string) => `${ctx.local.names.stateMachineArn.replace(':stateMachine:', ':execution:')}:${id}`;
  await Promise.all(ids.map((id) => ctx.local.sfn.waitFor(arnOf(id))));
  const drained = performance.now();

  // Lost: accepted but not completed; duplicates: more jobs stored than accepted submissions.
  const byStack = new Map<string, StackJob[]>();
  for (let s = 0; s < stacks; s++) {
    const key = `acmecorp/scale/bench_scale_${String(s).padStart(4, '0')}`;
    byStack.set(key, await ctx.jobs.listStack(key));
  }
  const stored = [...byStack.values()].flat();
  const lost = ids.filter((id) => !stored.some((j) => j.metadata.id === id && j.status.phase === 'completed')).length;
  const failed = stored.filter((j) => j.status.result !== 'succeeded').length;
  // Why the ones that did not succeed ended as they did (result/reason/failed operation), so a failure is explained.
  const failureReasons: Record<string, number> = {};
  for (const j of stored.filter((x) => x.status.result !== 'succeeded')) {
    const key = `${j.status.result}/${j.status.reason ?? '-'}/${j.status.failure?.operation ?? '-'}: ${(j.status.failure?.message ?? '').slice(0, 80)}`;
    failureReasons[key] = (failureReasons[key] ?? 0) + 1;
  }
  let maxHolders = 0;
  let orderViolations = 0;
  for (const jobs of byStack.values()) {
    // Holding the stack = from the first operation's start to the last one's end; submission order = job id order.
    const spans = jobs
      .map((j) => ({
        id: j.metadata.id,
        from: Math.min(...j.status.operations.map((o) => Date.parse(o.startedAt ?? 'x')).filter(Number.isFinite)),
        to: Math.max(...j.status.operations.map((o) => Date.parse(o.finishedAt ?? 'x')).filter(Number.isFinite)),
      }))
      .filter((s) => Number.isFinite(s.from));
    for (const s of spans) maxHolders = Math.max(maxHolders, spans.filter((o) => o.from <= s.from && s.from < o.to).length);
    const byStart = [...spans].sort((a, b) => a.from - b.from).map((s) => s.id);
    orderViolations += byStart.filter((id, i) => i > 0 && id < byStart[i - 1]).length;
  }
  await ctx.local.stop();
  return {
    changes,
    stacks,
    accepted: ids.length,
    rejected: order.length - ids.length,
    submitSeconds: (submitted - t0) / 1000,
    drainSeconds: (drained - t0) / 1000,
    lost,
    failed,
    failureReasons,
    duplicates: stored.length - ids.length,
    maxHolders,
    orderViolations,
  };
}

async function main() {
  const [section, ...args] = process.argv.slice(2);
  const n = (i: number, d: number) => Number(args[i] ?? d);
  const result =
    section === 'submission'
      ? await submission(n(0, 3), n(1, 100), n(2, 8))
      : section === 'cost'
        ? await costs(n(0, 3))
        : section === 'latency'
          ? await latency(n(0, 5))
          : section === 'scale'
            ? await scale(n(0, 1000), n(1, 200), n(2, 2000))
            : undefined;
  if (!result) throw new Error(`unknown section ${section}`);
  process.stdout.write(`\nBENCH_RESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
