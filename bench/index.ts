/**
 * `npm run bench`: what users wait for and pay for, measured on this machine in one run, each figure beside its
 * target. Prints the table, writes every figure, target and verdict to bench/results/latest.json, rewrites the README's
 * Performance table from it, and exits 1 when a target was missed (naming it). Timings are the median [min..max] of
 * repeated runs.
 *   1. runner tasks per job, clones and inits per approved job (local mode, the real Terraform, counting wrappers);
 *   2. runner overhead against the real Terraform driven directly, on the demo module and on 50 resources;
 *   3. latency in local mode with the real Terraform: submit -> first log line, approve -> apply started;
 *   4. all-in cost per approved job: Step Functions, Lambda, API Gateway, DynamoDB (table and every index), S3,
 *      EventBridge, Fargate at its billing minimum, NAT for the image pull (bench/support/prices.ts);
 *   5. submission latency, throughput and round trips; 6. the log pipeline; 7. cold-start proxies; 8. scale;
 *   9. the web console: the JavaScript a first visit loads, and page render times in Chromium against local mode.
 * Options: --full (1 GiB of logs, 1,000 changes over 200 stacks: ~25 min here), --scale=<changes>x<stacks>
 * (default 100x20), --quick (one repeat: not for the README).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { updateReadme } from './readme';
import { runnerBench, stat, type RunnerBenchResult, type Stat } from './runner.bench';
import type { LatencyRun, PathCost } from './sections/local-mode.section';
import { PRICES, RUNNER_IMAGE } from './support/prices';
import { checkTargets, renderReadme, usd, type BenchResults, type Figure, type Target } from './support/report';

const args = process.argv.slice(2);
const FULL = args.includes('--full');
const QUICK = args.includes('--quick');
const REPEATS = QUICK ? 1 : 3;
const LATENCY_REPEATS = QUICK ? 2 : 5;
const [SCALE_CHANGES, SCALE_STACKS] = (args.find((a) => a.startsWith('--scale='))?.slice(8) ?? (FULL ? '1000x200' : '100x20')).split('x').map(Number);
const LOG_MIB = FULL ? 1024 : 128;
/** The first runner issue's case: a tool taking about 2 s per command (the stand-in measurement). */
const STANDIN_COMMAND_MS = 2000;
/** Fargate bills per second with a 1-minute minimum per task; the bench's jobs run well under a minute. */
const FARGATE_BILLED_SECONDS = 60;

const fmt = (s: Stat, digits = 0, unit = '') => `${s.median.toFixed(digits)}${unit} [${s.min.toFixed(digits)}..${s.max.toFixed(digits)}]`;
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const medianOf = (xs: number[]) => stat(xs).median;

function section<T>(script: string, sectionArgs: string[], timeoutMs: number): T {
  const started = Date.now();
  const res = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, 'sections', script), ...sectionArgs], {
    env: {
      ...process.env,
      // As `npm run local` runs local mode (package.json): one process serving every stand-in allocates fast, and a
      // 32 MB young generation collects it less often; the CDK's fs/child_process timing hooks stay off.
      NODE_OPTIONS: '--openssl-legacy-provider --max-semi-space-size=32',
      CDK_NO_PERF_BUILTINS: '1',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
    },
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 1 << 28,
  });
  const line = res.stdout?.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
  if (!line) throw new Error(`${script} ${sectionArgs.join(' ')} failed (${res.status ?? res.signal}):\n${res.stderr?.slice(-4000)}`);
  process.stderr.write(`  ${script} ${sectionArgs.join(' ')}: ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  return JSON.parse(line.slice('BENCH_RESULT '.length)) as T;
}

/** A part of the bench that failed leaves its figures unmeasured (their targets missed), not the whole run. */
function attempt<T>(what: string, run: () => T): T | { error: string } {
  try {
    return run();
  } catch (e) {
    const error = (e as Error).message.split('\n').slice(0, 3).join(' ');
    process.stderr.write(`  ${what} FAILED: ${(e as Error).message.slice(0, 4000)}\n`);
    return { error };
  }
}
const failed = (x: unknown): x is { error: string } => typeof x === 'object' && x !== null && 'error' in x;

interface SubmissionResult {
  latency: Array<{ p50: number; p99: number }>;
  throughput: number[];
  perRound: number;
  concurrency: number;
  calls: { perSubmission: number; chain: number; chainCalls: string[]; byCommand: Record<string, number> };
}
interface ConsoleResult {
  assets: { js: Array<{ file: string; bytes: number; gzip: number }>; css: Array<{ file: string; bytes: number; gzip: number }> };
  jobsPage: Stat;
  jobPage: Stat;
}
interface ColdStart {
  functions: Array<{
    entry: string;
    memoryMb: number;
    architecture: string;
    bytes: number;
    top: string[];
    initMs: Stat;
    bundledSdk: { bytes: number; top: string[]; initMs: Stat };
  }>;
  layer: { bytes: number; files: number; packages: number };
  deferredLoad: { packages: string[]; ms: Stat };
  runnerTask: { vcpu: number; memoryGb: number; architecture: string; s3GatewayEndpoint: boolean };
}
interface CostResult {
  terraform: { bin: string; version: string };
  runs: PathCost[][];
}
interface LatencyResult {
  terraform: { bin: string; version: string };
  runs: LatencyRun[];
}
interface ScaleResult {
  changes: number;
  stacks: number;
  accepted: number;
  rejected: number;
  submitSeconds: number;
  drainSeconds: number;
  lost: number;
  failed: number;
  /** result/reason/operation: message → how many jobs ended so. */
  failureReasons?: Record<string, number>;
  duplicates: number;
  maxHolders: number;
  orderViolations: number;
}

/** One job's bill, component by component (US$), from its measured counts. */
function billOf(p: PathCost, memoryOf: (entry: string) => number, task: ColdStart['runnerTask']) {
  const gbSeconds = p.lambda.reduce((n, l) => n + (memoryOf(l.entry) / 1024) * (Math.max(1, Math.ceil(l.ms)) / 1000), 0);
  const arm = task.architecture.toUpperCase().includes('ARM');
  const taskHour =
    task.vcpu * (arm ? PRICES.fargateVcpuHourArm : PRICES.fargateVcpuHourX86).usd +
    task.memoryGb * (arm ? PRICES.fargateGbHourArm : PRICES.fargateGbHourX86).usd;
  // With the stack's S3 gateway endpoint, image layers (ECR serves them from S3) and uploads never reach the NAT gateway.
  const natGb = task.s3GatewayEndpoint ? 0 : (p.runnerTasks * RUNNER_IMAGE.compressedMb) / 1024 + p.s3.uploadBytes / 1024 ** 3;
  const parts = {
    sfn: p.transitions * PRICES.sfnTransition.usd,
    lambda: p.lambda.length * PRICES.lambdaRequest.usd + gbSeconds * PRICES.lambdaGbSecondArm.usd,
    apiGateway: p.apiRequests * PRICES.apiGatewayHttpRequest.usd,
    dynamoWrites: p.dynamo.writeUnits * PRICES.dynamoWriteUnit.usd,
    dynamoReads: p.dynamo.readUnits * PRICES.dynamoReadUnit.usd,
    s3: p.s3.tier1 * PRICES.s3Tier1Request.usd + p.s3.tier2 * PRICES.s3Tier2Request.usd,
    events: p.events * PRICES.eventBridgeCustomEvent.usd,
    fargate: p.runnerTasks * (FARGATE_BILLED_SECONDS / 3600) * taskHour,
    nat: natGb * PRICES.natGatewayGb.usd,
  };
  const orchestration = parts.sfn + parts.lambda + parts.apiGateway + parts.dynamoWrites + parts.dynamoReads + parts.s3 + parts.events;
  return { ...parts, gbSeconds, natGb, orchestration, total: orchestration + parts.fargate + parts.nat };
}

function buildFigures(o: {
  cold: ColdStart | { error: string };
  submission: SubmissionResult | { error: string };
  cost: CostResult | { error: string };
  latency: LatencyResult | { error: string };
  runner: RunnerBenchResult | { error: string };
  scale: ScaleResult | { error: string };
  console: ConsoleResult | { error: string };
}): Figure[] {
  const figures: Figure[] = [];
  let group = '';
  const add = (id: string, measure: string, value: Figure['value'], text: string, target?: Target) =>
    figures.push({ id, group, measure, value, text, ...(target ? { target } : {}) });
  const notMeasured = (ids: Array<[string, string, Target?]>, why: string) => {
    for (const [id, measure, target] of ids) add(id, measure, null, `not measured: ${why}`, target);
  };
  const le = (value: number, text: string): Target => ({ op: '<=', value, text });
  const lt = (value: number, text: string): Target => ({ op: '<', value, text });
  const eq = (value: number | boolean, text: string): Target => ({ op: '==', value, text });

  // ---------------------------------------------------------------- 1. tasks, clones, inits
  const paths = failed(o.cost) ? undefined : o.cost;
  const runsOf = (name: string) => paths?.runs.map((run) => run.find((p) => p.path === name)!).filter(Boolean) ?? [];
  const approved = runsOf('preview + approval + apply');
  const noPause = runsOf('no pause, with changes');
  group = `1. Runner tasks, clones and inits per job (local mode, the real Terraform, demo module; median of ${REPEATS})`;
  if (!paths) {
    notMeasured(
      [
        ['tasks.noPause', 'runner tasks per job that does not pause (with changes)', le(1, '1')],
        ['clones.approved', 'module clones per approved job', le(1, '1')],
        ['inits.approved', '`terraform init` runs per approved job', le(1, '1')],
      ],
      (o.cost as { error: string }).error,
    );
  } else {
    add(
      'tasks.noPause',
      'runner tasks per job that does not pause (with changes)',
      medianOf(noPause.map((p) => p.runnerTasks)),
      `${medianOf(noPause.map((p) => p.runnerTasks))}`,
      le(1, '1'),
    );
    add(
      'tasks.approved',
      'runner tasks per approved job',
      medianOf(approved.map((p) => p.runnerTasks)),
      `${medianOf(approved.map((p) => p.runnerTasks))} (preview, then update)`,
    );
    const clones = medianOf(approved.map((p) => p.calls.clones));
    const fetches = medianOf(approved.map((p) => p.calls.fetches));
    add(
      'clones.approved',
      'module clones per approved job (`git clone` runs the wrappers saw)',
      clones,
      `${clones}${fetches ? ` (+${fetches} fetch of the previewed commit)` : ''}`,
      le(1, '1'),
    );
    const inits = medianOf(approved.map((p) => p.calls.inits));
    add(
      'inits.approved',
      '`terraform init` runs per approved job',
      inits,
      `${inits} (${medianOf(approved.map((p) => p.calls.terraform))} terraform commands in all)`,
      le(1, '1'),
    );
  }

  // ---------------------------------------------------------------- 2. runner overhead
  const runner = failed(o.runner) ? undefined : o.runner;
  group = `2. Runner overhead vs the same Terraform commands run directly (${runner ? `Terraform ${runner.terraform.version}` : 'the real Terraform'}; runner = spawn to exit: node start, clone, S3 and DynamoDB writes; median [min..max] of ${REPEATS})`;
  if (!runner) {
    notMeasured(
      [
        ['overhead.demo.ratio', 'demo module: runner / direct, two tasks', le(1.5, '≤ 1.5×')],
        ['overhead.demo.perPhase', 'demo module: orchestration per phase, preview / update', le(300, '≤ 300 ms each')],
        ['overhead.tf50.ratio', '50 resources: runner / direct, two tasks', le(1.5, '≤ 1.5×')],
        ['overhead.tf50.perPhase', '50 resources: orchestration per phase, preview / update', le(300, '≤ 300 ms each')],
      ],
      (o.runner as { error: string }).error,
    );
  } else {
    for (const m of runner.real) {
      const key = m.resources === 1 ? 'demo' : 'tf50';
      const name = m.resources === 1 ? 'demo module' : `${m.resources} terraform_data resources`;
      add(
        `overhead.${key}.ratio`,
        `${name}: preview + update as two tasks, runner / direct`,
        m.ratio.median,
        `${fmt(m.ratio, 2, '×')} (${int(m.runnerMs.median)} vs ${int(m.directMs.median)} ms)`,
        le(1.5, '≤ 1.5×'),
      );
      add(
        `overhead.${key}.perPhase`,
        `${name}: orchestration per phase (runner - direct), preview / update`,
        Math.max(m.previewOverheadMs.median, m.updateOverheadMs.median),
        `${fmt(m.previewOverheadMs, 0, ' ms')} / ${fmt(m.updateOverheadMs, 0, ' ms')}`,
        le(300, '≤ 300 ms each'),
      );
      add(
        `overhead.${key}.oneTask`,
        `${name}: one task (no pause), runner / direct`,
        m.oneTask.ratio.median,
        `${fmt(m.oneTask.ratio, 2, '×')} (${int(m.oneTask.runnerMs.median)} vs ${int(m.oneTask.directMs.median)} ms; ${int(m.oneTask.overheadMs.median)} ms of orchestration)`,
      );
      const d = m.durations;
      add(
        `overhead.${key}.operations`,
        `${name}: the runner's operations (ms)`,
        null,
        `${Object.entries(d)
          .map(([k, v]) => `${k} ${int(v)}`)
          .join(
            ', ',
          )}; \`terraform init\` alone ${int(m.directInitMs)}; ${m.updateInit ? 'the update clones and runs init again' : "the update restores the preview's workspace (no second clone or init)"}`,
      );
    }
    const s = runner.standin;
    add(
      'overhead.standin.ratio',
      `stand-in CLI at ${s.commandMs / 1000} s per command: runner / direct (one run)`,
      s.ratio.median,
      `${s.ratio.median.toFixed(3)}× (${int(s.runnerMs.median)} vs ${int(s.directMs.median)} ms; preview +${int(s.previewOverheadMs.median)} ms, update +${int(s.updateOverheadMs.median)} ms)`,
    );
  }

  // ---------------------------------------------------------------- 3. latency
  const lat = failed(o.latency) ? undefined : o.latency;
  group = `3. Latency (local mode, the real Terraform, demo module, the production policy: pauses for approval; median [min..max] of ${LATENCY_REPEATS})`;
  if (!lat) {
    notMeasured(
      [
        ['latency.firstLog', 'submit → first log line readable (GET …/logs)', le(1500, '≤ 1.5 s')],
        ['latency.approveToApply', 'approve → apply started', le(150, '≤ 150 ms')],
      ],
      (o.latency as { error: string }).error,
    );
  } else {
    const runs = lat.runs;
    const firstLog = stat(runs.map((r) => r.firstLogMs));
    add(
      'latency.firstLog',
      'submit → first log line readable (POST sent → GET /v1/stack-jobs/{id}/logs has text; polled every 20 ms)',
      firstLog.median,
      fmt(firstLog, 0, ' ms'),
      le(1500, '≤ 1.5 s'),
    );
    const toApply = stat(runs.map((r) => r.approveToApplyMs));
    add(
      'latency.approveToApply',
      "approve → apply started (the decision's `at` → the apply operation's `startedAt`)",
      toApply.median,
      `${fmt(toApply, 0, ' ms')}; a client polling every 10 ms sees it after ${fmt(stat(runs.map((r) => r.approveToApplySeenMs)), 0, ' ms')}`,
      le(150, '≤ 150 ms'),
    );
    add(
      'latency.other',
      'submit → awaiting approval / approve → job completed',
      null,
      `${fmt(stat(runs.map((r) => r.submitToAwaitingMs)), 0, ' ms')} / ${fmt(stat(runs.map((r) => r.approveToDoneMs)), 0, ' ms')}`,
    );
    // Where an approved job's time goes (medians per step, from the job's and the execution's own timestamps).
    const t = (s?: string) => Date.parse(s ?? 'x');
    const steps = runs.map((r) => {
      const op = (n: string) => r.job.status.operations.find((x) => x.name === n);
      const [preview, update] = r.tasks;
      return {
        'to the preview task': t(preview?.from) - t(r.job.status.createdAt),
        'runner start': t(op('init')?.startedAt) - t(preview?.from),
        'clone + init': t(op('init')?.finishedAt) - t(op('init')?.startedAt),
        plan: t(op('plan')?.finishedAt) - t(op('plan')?.startedAt),
        'preview task end': t(preview?.to) - t(op('plan')?.finishedAt),
        'approval → update task': t(update?.from) - t(r.job.status.approval?.decision?.at),
        'update task start (workspace)': t(op('apply')?.startedAt) - t(update?.from),
        'apply + outputs': t(op('apply')?.finishedAt) - t(op('apply')?.startedAt),
        'update task end + finish': t(r.job.status.finishedAt) - t(op('apply')?.finishedAt),
      };
    });
    add(
      'latency.split',
      'an approved job step by step (ms; local: no Fargate start, no image pull)',
      null,
      Object.keys(steps[0] ?? {})
        .map((k) => `${k} ${int(medianOf(steps.map((s) => s[k as keyof (typeof steps)[number]])))}`)
        .join(', '),
    );
  }

  // ---------------------------------------------------------------- 4. cost
  const cold = failed(o.cold) ? undefined : o.cold;
  group = `4. All-in cost per approved job (the demo module, counts measured in local mode with the real Terraform, median of ${REPEATS}; US East list prices below)`;
  if (!paths || !cold) {
    notMeasured(
      [
        ['cost.approved', 'total per approved job', le(0.0022, '≤ $0.0022')],
        ['cost.dynamoWriteUnits', 'DynamoDB write units per approved job', le(200, '≤ 200')],
      ],
      (!paths ? (o.cost as { error: string }) : (o.cold as { error: string })).error,
    );
  } else {
    const memoryOf = (entry: string) => cold.functions.find((f) => f.entry === entry)?.memoryMb ?? 512;
    const task = cold.runnerTask;
    const bills = approved.map((p) => billOf(p, memoryOf, task));
    const m = (k: keyof (typeof bills)[number]) => medianOf(bills.map((b) => b[k]));
    const p = approved[Math.floor((approved.length - 1) / 2)];
    const med = (f: (x: PathCost) => number) => medianOf(approved.map(f));
    const estimated = p.lambda.filter((l) => l.estimated).length;
    add('cost.sfn', 'Step Functions (Standard)', m('sfn'), `${med((x) => x.transitions)} transitions: ${usd(m('sfn'))}`);
    add(
      'cost.lambda',
      `Lambda (arm64; API ${memoryOf('lambdas/handlers/api.handler.ts')} MB, steps ${memoryOf('lambdas/workflow/step.handler.ts')} MB)`,
      m('lambda'),
      `${p.lambda.length} invocations (${estimated} timed as the median step: the approval request, one runner-stopped per task), ${m('gbSeconds').toFixed(3)} GB-s: ${usd(m('lambda'))}`,
    );
    add('cost.apiGateway', 'API Gateway (HTTP API)', m('apiGateway'), `${p.apiRequests} requests (submit, approve): ${usd(m('apiGateway'))}`);
    const idx = Object.keys(p.dynamo.indexWriteUnits);
    const writeUnits = med((x) => x.dynamo.writeUnits);
    add(
      'cost.dynamoWrites',
      'DynamoDB writes (on demand)',
      m('dynamoWrites'),
      `${med((x) => x.dynamo.writes)} writes, ${int(writeUnits)} write units (table ${int(med((x) => x.dynamo.tableWriteUnits))}${idx.length ? `; indexes: ${idx.map((k) => `${k} ${int(med((x) => x.dynamo.indexWriteUnits[k] ?? 0))}`).join(', ')}` : ''}): ${usd(m('dynamoWrites'))}`,
    );
    add(
      'cost.dynamoWriteUnits',
      'DynamoDB write units per approved job (table + every index the item is written to)',
      writeUnits,
      int(writeUnits),
      le(200, '≤ 200'),
    );
    add(
      'cost.dynamoReads',
      'DynamoDB reads',
      m('dynamoReads'),
      `${med((x) => x.dynamo.reads)} requests, ${med((x) => x.dynamo.readUnits)} read units${p.dynamo.filteredQueries ? ` (${p.dynamo.filteredQueries} filtered queries: examined items not counted)` : ''}: ${usd(m('dynamoReads'))}`,
    );
    add('cost.s3', 'S3 requests', m('s3'), `${med((x) => x.s3.tier1)} PUT/POST/LIST + ${med((x) => x.s3.tier2)} GET/HEAD: ${usd(m('s3'))}`);
    add('cost.events', 'EventBridge (status events on the app bus)', m('events'), `${med((x) => x.events)} events: ${usd(m('events'))}`);
    add(
      'cost.fargate',
      `Fargate (${task.vcpu} vCPU, ${task.memoryGb} GB, ${task.architecture}, as the stack deploys it)`,
      m('fargate'),
      `${p.runnerTasks} tasks × ${FARGATE_BILLED_SECONDS} s billing minimum (each ran ${Object.values(p.runnerSeconds)
        .map((s) => s.toFixed(1))
        .join(' + ')} s here): ${usd(m('fargate'))}`,
    );
    add(
      'cost.nat',
      task.s3GatewayEndpoint
        ? 'NAT gateway data processing (the runner VPC has an S3 gateway endpoint: image layers and uploads skip the NAT)'
        : 'NAT gateway data processing (the runner in private subnets behind one NAT, no S3 gateway endpoint)',
      m('nat'),
      task.s3GatewayEndpoint
        ? `${p.runnerTasks} image pulls × ${RUNNER_IMAGE.compressedMb} MB (assumed) and ${int(med((x) => x.s3.uploadBytes) / 1024)} KB of uploads through the S3 gateway endpoint (free); git and provider downloads not counted: ${usd(m('nat'))}`
        : `${p.runnerTasks} image pulls × ${RUNNER_IMAGE.compressedMb} MB (assumed, below) + ${int(med((x) => x.s3.uploadBytes) / 1024)} KB of uploads = ${m('natGb').toFixed(3)} GB: ${usd(m('nat'))}`,
    );
    add('cost.orchestration', 'subtotal without Fargate and NAT', m('orchestration'), usd(m('orchestration')));
    add('cost.approved', 'total per approved job', m('total'), `**${usd(m('total'))}**`, le(0.0022, '≤ $0.0022'));
    for (const name of ['no pause, with changes', 'no pause, no changes', 'failure (apply fails; stand-in CLI)']) {
      const runs = runsOf(name);
      if (runs.length === 0) continue;
      const b = runs.map((x) => billOf(x, memoryOf, task));
      add(
        `cost.${name
          .split(/[ ,(]+/)
          .slice(0, 3)
          .join('-')}`,
        `total for a job: ${name}`,
        medianOf(b.map((x) => x.total)),
        `${usd(medianOf(b.map((x) => x.total)))} (${medianOf(runs.map((x) => x.runnerTasks))} task; ${int(medianOf(runs.map((x) => x.dynamo.writeUnits)))} write units; without Fargate and NAT ${usd(medianOf(b.map((x) => x.orchestration)))})`,
      );
    }
  }

  // ---------------------------------------------------------------- 5. submission
  group = `5. Submission (POST /v1/stack-jobs, local mode; median [min..max] of ${REPEATS} rounds)`;
  if (failed(o.submission)) notMeasured([['submission.chain', 'longest sequential chain of AWS calls', le(3, '≤ 3')]], o.submission.error);
  else {
    const sub = o.submission;
    add(
      'submission.p50',
      `latency p50 / p99, sequential (${sub.perRound} per round)`,
      null,
      `${fmt(stat(sub.latency.map((l) => l.p50)), 1, ' ms')} / ${fmt(stat(sub.latency.map((l) => l.p99)), 1, ' ms')}`,
    );
    add('submission.throughput', `throughput, ${sub.concurrency} concurrent clients`, null, fmt(stat(sub.throughput), 1, ' req/s'));
    add(
      'submission.calls',
      'AWS calls per submission (SDK middleware)',
      sub.calls.perSubmission,
      `${sub.calls.perSubmission} (${Object.entries(sub.calls.byCommand)
        .filter(([, n]) => n >= 0.5)
        .map(([c, n]) => `${Math.round(n)} ${c}`)
        .join(', ')})`,
    );
    add('submission.chain', 'longest sequential chain of AWS calls', sub.calls.chain, `${sub.calls.chain}: ${sub.calls.chainCalls.join(' → ')}`, le(3, '≤ 3'));
  }

  // ---------------------------------------------------------------- 6. log pipeline
  group = `6. Log pipeline (the stand-in CLI printing ${LOG_MIB} MiB through the runner)`;
  if (!runner) {
    notMeasured(
      [
        ['log.peakRss', 'runner peak RSS while logging', lt(150, '< 150 MB')],
        ['log.complete', 'log stored complete and in order', eq(true, 'yes')],
      ],
      (o.runner as { error: string }).error,
    );
  } else {
    add('log.throughput', 'throughput', null, fmt(runner.log.mbPerSecond, 1, ' MB/s'));
    add('log.peakRss', 'runner peak RSS while logging', runner.log.peakRssMb.median, fmt(runner.log.peakRssMb, 1, ' MB'), lt(150, '< 150 MB'));
    add(
      'log.complete',
      'log stored complete and in order',
      runner.log.complete,
      `${runner.log.complete ? 'yes' : 'NO'} (${runner.log.chunks} chunks)`,
      eq(true, 'yes'),
    );
  }

  // ---------------------------------------------------------------- 7. cold start
  group = '7. Cold-start proxies (each Lambda bundled as deployed, minified; init in a fresh node, the SDK from the layer as on Lambda)';
  if (!cold) {
    notMeasured(
      [
        ['cold.bundle', 'largest Lambda bundle', lt(500, '< 500 KB')],
        ['cold.init', 'slowest Lambda module init', lt(150, '< 150 ms')],
      ],
      (o.cold as { error: string }).error,
    );
  } else {
    const name = (entry: string) => entry.replace(/.*\//, '').replace('.handler.ts', '');
    const biggest = [...cold.functions].sort((a, b) => b.bytes - a.bytes)[0];
    const smallest = [...cold.functions].sort((a, b) => a.bytes - b.bytes)[0];
    add(
      'cold.bundle',
      `largest Lambda bundle (${cold.functions.length} functions)`,
      biggest.bytes / 1024,
      `${(biggest.bytes / 1024).toFixed(0)} KB (${name(biggest.entry)}: ${biggest.top.join(', ')}); smallest ${(smallest.bytes / 1024).toFixed(0)} KB`,
      lt(500, '< 500 KB'),
    );
    const slowest = [...cold.functions].sort((a, b) => b.initMs.median - a.initMs.median)[0];
    add('cold.init', 'slowest Lambda module init', slowest.initMs.median, `${fmt(slowest.initMs, 1, ' ms')} (${name(slowest.entry)})`, lt(150, '< 150 ms'));
    add(
      'cold.layer',
      "the AWS SDK layer (the lockfile's SDK, shared by every function)",
      null,
      `${(cold.layer.bytes / 1024 / 1024).toFixed(1)} MB unzipped, ${cold.layer.files} files, ${cold.layer.packages} packages`,
    );
    add(
      'cold.deferred',
      'SDK packages loaded on first use (what a first submission adds)',
      null,
      `${fmt(cold.deferredLoad.ms, 1, ' ms')} (${cold.deferredLoad.packages.join(', ')})`,
    );
    add(
      'cold.bundledSdk',
      'with `stackjobs:awsSdk=bundle` (the SDK in every bundle, no layer): largest bundle, slowest init',
      null,
      `${(Math.max(...cold.functions.map((f) => f.bundledSdk.bytes)) / 1024).toFixed(0)} KB, ${Math.max(...cold.functions.map((f) => f.bundledSdk.initMs.median)).toFixed(1)} ms`,
    );
  }

  // ---------------------------------------------------------------- 8. scale
  group = `8. Scale: ${SCALE_CHANGES} changes over ${SCALE_STACKS} stacks, no approval pause (stand-in CLI; ${cpus().length} cores)`;
  if (failed(o.scale)) {
    notMeasured(
      [
        ['scale.drain', 'submitted and drained', le(40, '≤ 40 s')],
        ['scale.lost', 'jobs lost', eq(0, '0')],
        ['scale.duplicates', 'duplicate jobs', eq(0, '0')],
        ['scale.holders', 'most concurrent holders of one stack', le(1, '1')],
        ['scale.order', 'submission-order violations per stack', eq(0, '0')],
        ['scale.failed', 'jobs that did not succeed', eq(0, '0')],
      ],
      o.scale.error,
    );
  } else {
    const s = o.scale;
    add(
      'scale.drain',
      'first submission → every execution ended',
      s.drainSeconds,
      `${s.drainSeconds.toFixed(1)} s (all ${s.accepted} accepted in ${s.submitSeconds.toFixed(1)} s; ${(s.accepted / s.drainSeconds).toFixed(2)} jobs/s)`,
      le(40, '≤ 40 s'),
    );
    add('scale.lost', 'jobs lost (accepted, not completed)', s.lost, String(s.lost), eq(0, '0'));
    add('scale.duplicates', 'duplicate jobs', s.duplicates, String(s.duplicates), eq(0, '0'));
    add('scale.holders', 'most concurrent holders of one stack', s.maxHolders, String(s.maxHolders), le(1, '1'));
    add('scale.order', 'submission-order violations per stack', s.orderViolations, String(s.orderViolations), eq(0, '0'));
    // Quiet changes on the stand-in: every one should apply. A job that did not is a product fault (it was local IAM's
    // port attribution once), so the run names why and counts as a miss.
    const why = Object.entries(s.failureReasons ?? {}).map(([k, n]) => `${n}× ${k}`);
    add('scale.failed', 'jobs that did not succeed', s.failed, [String(s.failed), ...why].join('; '), eq(0, '0'));
  }

  // ---------------------------------------------------------------- 9. web console
  group = `9. Web console (the production build; Debian's Chromium against local mode with the stand-in CLI, median [min..max] of ${REPEATS})`;
  if (failed(o.console)) {
    notMeasured(
      [
        ['console.initialJs', 'initial JavaScript, gzipped', le(200, '≤ 200 KB')],
        ['console.jobsPage', 'Jobs page rendered from the API', lt(1000, '< 1 s')],
        ['console.jobPage', 'Job page (awaiting approval) rendered from the API', lt(1000, '< 1 s')],
      ],
      o.console.error,
    );
  } else {
    const c = o.console;
    const kb = (n: number) => n / 1024;
    const js = c.assets.js.reduce((a, f) => a + f.gzip, 0);
    add(
      'console.initialJs',
      'initial JavaScript, gzipped (entry script + preloaded chunks; pages past the first load on demand)',
      kb(js),
      `${kb(js).toFixed(1)} KB (${c.assets.js.length} files, ${kb(c.assets.js.reduce((a, f) => a + f.bytes, 0)).toFixed(0)} KB before compression); CSS ${kb(c.assets.css.reduce((a, f) => a + f.gzip, 0)).toFixed(1)} KB`,
      le(200, '≤ 200 KB'),
    );
    add('console.jobsPage', 'Jobs page: navigation → the newest job listed', c.jobsPage.median, fmt(c.jobsPage, 0, ' ms'), lt(1000, '< 1 s'));
    add('console.jobPage', 'Job page awaiting approval: navigation → plan and Approve button', c.jobPage.median, fmt(c.jobPage, 0, ' ms'), lt(1000, '< 1 s'));
  }
  return figures;
}

async function main() {
  const t0 = Date.now();
  const loadAtStart = loadavg()[0];
  const machineOnly = `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 1024 ** 3).toFixed(0)} GB, node ${process.version}`;
  process.stderr.write(`Stack Jobs benchmark: ${machineOnly}${FULL ? ', full' : ''}${QUICK ? ', quick' : ''}\n`);
  const cold = attempt('cold start', () => section<ColdStart>('cold-start.section.ts', [String(QUICK ? 3 : 5)], 300_000));
  const submission = attempt('submission', () => section<SubmissionResult>('local-mode.section.ts', ['submission', String(REPEATS), '100', '8'], 300_000));
  const cost = attempt('cost', () => section<CostResult>('local-mode.section.ts', ['cost', String(REPEATS)], 900_000));
  const latency = attempt('latency', () => section<LatencyResult>('local-mode.section.ts', ['latency', String(LATENCY_REPEATS)], 600_000));
  let runner: RunnerBenchResult | { error: string };
  try {
    runner = await runnerBench({ repeats: REPEATS, logMib: LOG_MIB, logRepeats: FULL ? 1 : REPEATS, standinCommandMs: STANDIN_COMMAND_MS });
    process.stderr.write('  runner: done\n');
  } catch (e) {
    runner = { error: (e as Error).message.split('\n')[0] };
    process.stderr.write(`  runner FAILED: ${(e as Error).stack}\n`);
  }
  const consoleResult = attempt('console', () => section<ConsoleResult>('console.section.ts', [String(REPEATS)], 300_000));
  const scale = attempt('scale', () =>
    section<ScaleResult>('local-mode.section.ts', ['scale', String(SCALE_CHANGES), String(SCALE_STACKS), '30000'], FULL ? 3_600_000 : 900_000),
  );

  // What the sections returned, kept before anything is computed from it (ignored by git; latest.json has it too).
  mkdirSync(join(__dirname, 'results'), { recursive: true });
  writeFileSync(join(__dirname, 'results', 'raw.json'), JSON.stringify({ cold, submission, cost, latency, runner, scale, console: consoleResult }));
  // Other work on the machine slows every timing: the 1-minute load average at the start and the end is part of the record.
  const machine = `${machineOnly}, load average ${loadAtStart.toFixed(1)} at the start and ${loadavg()[0].toFixed(1)} at the end`;
  const figures = buildFigures({ cold, submission, cost, latency, runner, scale, console: consoleResult });
  const missed = checkTargets(figures);
  const terraform = failed(runner) ? (failed(cost) ? 'the real Terraform' : `Terraform ${cost.terraform.version}`) : `Terraform ${runner.terraform.version}`;
  const results: BenchResults = {
    at: new Date().toISOString(),
    machine,
    command: `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`,
    repeats: REPEATS,
    terraform,
    prices: PRICES,
    runnerImage: RUNNER_IMAGE,
    figures,
    missed,
    raw: {
      cold,
      submission,
      cost,
      // Each latency job's status only (its snapshot is the example change's, the same every run).
      latency: failed(latency)
        ? latency
        : { ...latency, runs: latency.runs.map((r) => ({ ...r, job: { metadata: { id: r.job.metadata.id }, status: r.job.status } })) },
      runner,
      scale,
      console: consoleResult,
      seconds: (Date.now() - t0) / 1000,
    },
  };
  mkdirSync(join(__dirname, 'results'), { recursive: true });
  writeFileSync(join(__dirname, 'results', 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nStack Jobs benchmark: ${machine}; ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  console.log(renderReadme(results));
  if (QUICK) console.log('\n--quick: bench/results/latest.json written; the README is left alone (one repeat is not what it reports)');
  else if (updateReadme(results)) console.log('\nREADME.md: Performance table rewritten from bench/results/latest.json');
  if (missed.length) {
    console.log(`\nTARGETS MISSED (${missed.length}):`);
    for (const f of figures.filter((x) => missed.includes(x.id)))
      console.log(`  ${f.id}: ${f.measure}: ${f.text.replace(/\*\*/g, '')} (target ${f.target!.text})`);
    return 1;
  }
  console.log('\nevery target held');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(2);
  },
);
