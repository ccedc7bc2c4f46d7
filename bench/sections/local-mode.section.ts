/**
 * BENCH ONLY. The local-mode sections of `npm run bench`, one per child process (local mode sets process.env and
 * the SDK clients are memoized per process): `submission`, `cost` or `scale`. Prints one JSON line of results.
 * Usage: NODE_OPTIONS=--openssl-legacy-provider tsx bench/sections/local-mode.section.ts <section> [args...]
 */
import { readFileSync } from 'node:fs';
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
import { dynamoOperation, type FaultRule } from '../../local/fault-proxy';
import { REPO_ROOT, startLocalMode, type LocalMode, type LocalModeOptions } from '../../local/local-mode';
import { buildStandin } from '../../test/support/standin-iac/build';
import { longestChain, SdkCallRecorder } from '../support/sdk-calls';

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
  dynamoRequests: Array<{ at: number; op: string; bytes: number; jobItem: boolean }>;
  s3Requests: Array<{ at: number; method: string }>;
}

/** Local mode for a section; `parkSeconds` is how long a job waiting for its stack stays parked before it looks on its own. */
async function start(parkSeconds: number, wrapApiHandler?: LocalModeOptions['wrapApiHandler']): Promise<Ctx> {
  const dynamoRequests: Ctx['dynamoRequests'] = [];
  const s3Requests: Ctx['s3Requests'] = [];
  // Counting proxies: every DynamoDB and S3 request, from the API, the workflow and the runner processes alike.
  const countDynamo: FaultRule = (r) => {
    dynamoRequests.push({ at: performance.now(), op: dynamoOperation(r), bytes: r.body.length, jobItem: r.body.includes('"JOB#') });
    return undefined;
  };
  const countS3: FaultRule = (r) => {
    s3Requests.push({ at: performance.now(), method: r.method });
    return undefined;
  };
  const runnerEnv: Record<string, string> = { STACKJOBS_TERRAFORM_BIN: buildStandin(), STACKJOBS_LOG_FLUSH_SECONDS: '1' };
  const local = await startLocalMode({
    config: benchConfig(),
    inMemory: true,
    runnerEnv,
    timeoutSecondsOverrides: { 'Wait For Stack Lock': parkSeconds },
    faults: { dynamodb: countDynamo, s3: countS3 },
    wrapApiHandler,
  });
  const db = documentClient({ endpoint: local.dynamoEndpoint, region: 'us-east-1', credentials: local.credentials });
  return {
    local,
    jobs: new JobRepository(db, local.names.jobsTable),
    locks: new LockRepository(db, local.names.jobsTable),
    runnerEnv,
    dynamoRequests,
    s3Requests,
  };
}

async function post(ctx: Ctx, path: string, token: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${ctx.local.apiUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

async function waitFor(ctx: Ctx, id: string, until: (j: StackJob) => boolean, timeoutMs = 60000): Promise<StackJob> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await ctx.jobs.get(id);
    if (found && until(found.job)) return found.job;
    if (Date.now() > deadline) throw new Error(`job ${id} stuck at ${JSON.stringify(found?.job.status)}`);
    await sleep(25);
  }
}

// ------------------------------------------------------------------ 1. submission

async function submission(rounds: number, perRound: number, concurrency: number) {
  // Every job of this section queues behind a lease held for the whole run, so the measured submissions do not
  // compete with runners for the CPU; its lock wait is long, so queued jobs cost nothing while we measure.
  const recorder = new SdkCallRecorder();
  const ctx = await start(600, (api) => (event) => recorder.inRequest(() => api(event)));
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

/** One path's measured cost inputs; bench/index.ts prices them. */
export interface PathCost {
  path: string;
  result: string;
  transitions: number;
  lambda: Array<{ entry: string; ms: number }>;
  dynamo: { reads: number; writes: number; writeUnits: number };
  s3: { puts: number; gets: number };
  runnerSeconds: Record<string, number>;
}

async function costs(repeats: number) {
  const ctx = await start(60);
  const taskOf = (name: string) => {
    const def = (
      ctx.local.sfn as unknown as {
        options: { definition: { States: Record<string, { Type: string; Resource?: string; Parameters?: Record<string, unknown> }> } };
      }
    ).options.definition.States[name];
    return def;
  };
  const measure = async (
    path: string,
    env: string,
    resourceId: string,
    version: string,
    o: { approve?: boolean; spec?: Record<string, unknown>; runnerEnv?: Record<string, string> } = {},
  ): Promise<PathCost> => {
    Object.assign(ctx.runnerEnv, o.runnerEnv ?? {});
    const from = performance.now();
    const apiMs: number[] = [];
    let t = performance.now();
    const res = await post(ctx, '/v1/stack-jobs', OPERATOR, change(resourceId, env, version, o.spec));
    apiMs.push(performance.now() - t);
    const id = (res.json as StackJob).metadata.id;
    if (o.approve) {
      await waitFor(ctx, id, (j) => j.status.phase === 'awaiting_approval');
      t = performance.now();
      const decided = await post(ctx, `/v1/stack-jobs/${id}/approve`, APPROVER, {});
      apiMs.push(performance.now() - t);
      if (decided.status >= 300) throw new Error(`approve answered ${decided.status}: ${JSON.stringify(decided.json)}`);
    }
    const arn = `${ctx.local.names.stateMachineArn.replace(':stateMachine:', ':execution:')}:${id}`;
    await ctx.local.sfn.waitFor(arn);
    const job = await waitFor(ctx, id, (j) => j.status.phase === 'completed');
    await sleep(200); // the runner's last writes after it reported
    const to = performance.now();
    for (const k of Object.keys(o.runnerEnv ?? {})) delete ctx.runnerEnv[k];

    const history = ctx.local.sfn.history(arn);
    // Billed transitions: every state entered, and every retry.
    const transitions = history.filter((e) => e.type === 'StateEntered' || e.type === 'StateRetried').length;
    const lambda: PathCost['lambda'] = apiMs.map((ms) => ({ entry: 'lambdas/handlers/api.handler.ts', ms }));
    const runnerSeconds: Record<string, number> = {};
    const entered = new Map<string, Date>();
    for (const e of history) {
      if (!e.state) continue;
      if (e.type === 'StateEntered') entered.set(e.state, e.at);
      if (e.type !== 'StateExited' && e.type !== 'StateFailed' && e.type !== 'StateCaught') continue;
      const began = entered.get(e.state);
      const state = taskOf(e.state);
      if (!began || state?.Type !== 'Task') continue;
      const ms = e.at.getTime() - began.getTime();
      if (String(state.Resource).includes(':ecs:')) runnerSeconds[e.state] = (runnerSeconds[e.state] ?? 0) + ms / 1000;
      else if (e.state === 'Request Approval') lambda.push({ entry: 'lambdas/workflow/request-approval.handler.ts', ms: -1 });
      else lambda.push({ entry: 'lambdas/workflow/step.handler.ts', ms });
      entered.delete(e.state);
    }
    // The approval Lambda returns at once and the state then waits for the decision: its own time is not in
    // the history, so it is billed like the median workflow step (marked estimated in the table).
    const stepMedian = median(lambda.filter((l) => l.entry.includes('step.handler')).map((l) => l.ms));
    for (const l of lambda) if (l.ms < 0) l.ms = stepMedian;
    const dyn = ctx.dynamoRequests.filter((r) => r.at >= from && r.at <= to);
    const isWrite = (op: string) => /^(Put|Update|Delete|BatchWrite)/.test(op);
    // On-demand write units: 1 per KB written (request size as the item size), times base table + the two GSIs for job items.
    const writeUnits = dyn.filter((r) => isWrite(r.op)).reduce((n, r) => n + Math.max(1, Math.ceil(r.bytes / 1024)) * (r.jobItem ? 3 : 1), 0);
    const s3 = ctx.s3Requests.filter((r) => r.at >= from && r.at <= to);
    return {
      path,
      result: `${job.status.result}${job.status.reason ? ` (${job.status.reason})` : ''}`,
      transitions,
      lambda,
      dynamo: { reads: dyn.filter((r) => !isWrite(r.op)).length, writes: dyn.filter((r) => isWrite(r.op)).length, writeUnits },
      s3: {
        puts: s3.filter((r) => r.method === 'PUT' || r.method === 'POST').length,
        gets: s3.filter((r) => r.method === 'GET' || r.method === 'HEAD').length,
      },
      runnerSeconds,
    };
  };

  const out: PathCost[][] = [];
  for (let r = 0; r < repeats; r++) {
    const rid = `bench_cost_${r}`;
    await measure('warm-up', 'nopause', `${rid}_warm`, 'v1');
    // The same spec again is a plan with nothing to do.
    await measure('setup', 'nopause', `${rid}_same`, 'v1');
    const noChanges = await measure('no changes', 'nopause', `${rid}_same`, 'v2');
    const approval = await measure('preview + approval + apply', 'production', `${rid}_approve`, 'v1', { approve: true });
    const failure = await measure('failure (apply fails)', 'nopause', `${rid}_fail`, 'v1', { runnerEnv: { STANDIN_FAIL: 'apply' } });
    out.push([noChanges, approval, failure]);
  }
  await ctx.local.stop();
  return { runs: out };
}

// ------------------------------------------------------------------ 5. scale

async function scale(changes: number, stacks: number, waitMs: number) {
  const ctx = await start(Math.max(1, Math.round(waitMs / 1000)));
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
