/**
 * Runner benchmark, on one machine in one run, with the harness of test/runner (the real runner bundle as a child
 * process against dynalite, s3rver and a fake of Step Functions):
 *  1. overhead: a job through the runner vs the same Terraform commands run directly, with the REAL Terraform on the
 *     demo module and on a module of 50 terraform_data resources: two tasks (preview, then the approved update) and
 *     one task (a job that does not pause: preview and update in one task, STACKJOBS_THEN_UPDATE=true). Runner time is
 *     spawn to exit (node start, clone, S3 and DynamoDB writes included); direct time is the commands alone, each phase
 *     in a fresh copy of the module as the runner's own workspace is;
 *  2. the same with the stand-in CLI taking 2 s per command (the first runner issue's case);
 *  3. log pipeline: a tool printing many MiB — throughput, the runner's peak RSS (target < 150 MB), no loss (stored
 *     bytes = printed bytes) and every chunk in order (line numbers continuous).
 * Run alone: NODE_OPTIONS=--openssl-legacy-provider npx tsx bench/runner.bench.ts [logMiB=1024] [repeats=3]
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { StackJob } from '../lambdas/domain/schemas';
import { moduleInputs } from '../runner-image/src/module-config';
import { BUCKET, createJob, startRunner, startRunnerEnv, type RunnerEnv } from '../test/runner/support/harness';
import { callsFor, countingWrappers, demoModule, manyResourcesModule, moduleRepo, realTerraform } from './support/tf-modules';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
export interface Stat {
  median: number;
  min: number;
  max: number;
}
export const stat = (xs: number[]): Stat => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

const rssKb = (pid: number, field: 'VmRSS' | 'VmHWM') => {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
};

/** The tool's environment as the runner gives it (runner-image/src/phases.ts childEnvFrom, HOME = the workspace). */
const toolEnv = (home: string, extra: Record<string, string>) => ({
  PATH: process.env.PATH,
  HOME: home,
  TF_IN_AUTOMATION: '1',
  TF_INPUT: '0',
  CHECKPOINT_DISABLE: '1',
  ...extra,
});

export interface PhaseTimes {
  job: StackJob;
  previewMs: number;
  updateMs: number;
}

/** Preview then update, two runner tasks (the approved job's path); timed spawn to exit. */
export async function runPhases(env: RunnerEnv, extra: Record<string, string>, gitRepo?: string): Promise<PhaseTimes> {
  const job = await createJob(env, gitRepo ? { gitRepo } : {});
  const t0 = Date.now();
  const preview = startRunner(env, { jobId: job.metadata.id, phase: 'preview', token: `bench-p-${job.metadata.id}`, env: extra });
  const p = await preview.done;
  if (p.code !== 0) throw new Error(`preview failed: ${p.stderr}`);
  const t1 = Date.now();
  const out = JSON.parse(env.fake.reportsFor(`bench-p-${job.metadata.id}`)[0].body.output!) as { planDigest: string };
  const update = startRunner(env, { jobId: job.metadata.id, phase: 'update', token: `bench-u-${job.metadata.id}`, planDigest: out.planDigest, env: extra });
  const u = await update.done;
  if (u.code !== 0) throw new Error(`update failed: ${u.stderr}`);
  return { job, previewMs: t1 - t0, updateMs: Date.now() - t1 };
}

/** Preview and update in one runner task (a job that does not pause); timed spawn to exit. */
export async function runOneTask(env: RunnerEnv, extra: Record<string, string>, gitRepo?: string): Promise<{ job: StackJob; ms: number }> {
  const job = await createJob(env, gitRepo ? { gitRepo } : {});
  const t0 = Date.now();
  const token = `bench-1-${job.metadata.id}`;
  const run = startRunner(env, { jobId: job.metadata.id, phase: 'preview', token, env: { ...extra, STACKJOBS_THEN_UPDATE: 'true' } });
  const done = await run.done;
  if (done.code !== 0) throw new Error(`one-task run failed: ${done.stderr}`);
  const ms = Date.now() - t0;
  const output = JSON.parse(env.fake.reportsFor(token)[0].body.output!) as { then?: unknown; hasChanges: boolean };
  if (output.hasChanges && !output.then) throw new Error('the one-task run did not apply its plan');
  return { job, ms };
}

/**
 * The commands the runner's Terraform driver issues (runner-image/src/drivers/terraform/driver.ts), run directly in
 * `dir` (a copy of the module): preview = init, plan + show; update = init, apply, output.
 */
function runCommands(bin: string, dir: string, extra: Record<string, string>, commands: Array<{ args: string[]; ok?: number[]; stdoutFile?: string }>) {
  for (const c of commands) {
    const res = spawnSync(bin, c.args, { cwd: dir, env: toolEnv(dir, extra), stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
    if (!(c.ok ?? [0]).includes(res.status ?? -1)) throw new Error(`${bin} ${c.args.join(' ')} exited ${res.status}: ${res.stderr?.toString().slice(-2000)}`);
    if (c.stdoutFile) writeFileSync(c.stdoutFile, res.stdout);
  }
}

/**
 * The same commands run directly (no clone, no S3, no DynamoDB), the preview in a fresh copy of the module; the update
 * in another fresh copy with its own `init` when the runner's update runs one (`updateInit`, see updateRunsInit), else
 * in the preview's directory; `oneTask` as a one-task job runs them (one init). Only the commands are timed.
 */
export async function runDirect(
  env: RunnerEnv,
  bin: string,
  mainTf: string | undefined,
  extra: Record<string, string>,
  o: { oneTask?: boolean; updateInit: boolean },
) {
  const job = await createJob(env);
  const root = join(env.dir, 'direct', job.metadata.id);
  const copy = (name: string) => {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    if (mainTf !== undefined) writeFileSync(join(dir, 'main.tf'), mainTf);
    return dir;
  };
  const state = join(root, 'state');
  mkdirSync(state, { recursive: true });
  const vars = join(state, 'terraform.tfvars.json');
  writeFileSync(vars, `${JSON.stringify(moduleInputs(job), null, 2)}\n`);
  const f = (n: string) => join(state, n);
  const init = { args: ['init', '-input=false', '-no-color', `-backend-config=path=${f('terraform.tfstate')}`] };
  // A change job's plan reports the drift its own refresh found: no refresh-only plan before it (planner.ts).
  const previewCommands = [
    init,
    { args: ['plan', '-input=false', '-no-color', '-json', `-out=${f('plan.bin')}`, '-detailed-exitcode', `-var-file=${vars}`], ok: [0, 2] },
    { args: ['show', '-json', '-no-color', f('plan.bin')], stdoutFile: f('plan.json') },
  ];
  const updateCommands = [
    { args: ['apply', '-input=false', '-auto-approve', '-no-color', '-json', f('plan.bin')] },
    { args: ['output', '-json', '-no-color'], stdoutFile: f('outputs.json') },
  ];
  const previewDir = copy('preview');
  const t0 = Date.now();
  runCommands(bin, previewDir, extra, previewCommands);
  const t1 = Date.now();
  if (o.oneTask || !o.updateInit) {
    // One task, or an update that restores the preview's workspace: the same directory, no second init.
    runCommands(bin, previewDir, extra, updateCommands);
    return { previewMs: t1 - t0, updateMs: Date.now() - t1 };
  }
  const updateDir = copy('update');
  copyFileSync(f('plan.bin'), join(updateDir, 'plan.bin'));
  const t2 = Date.now();
  runCommands(bin, updateDir, extra, [init, ...updateCommands]);
  return { previewMs: t1 - t0, updateMs: Date.now() - t2 };
}

/** Pushes `logMib` MiB of numbered lines through the runner and reads them back: MB/s, peak RSS, loss and order. */
export async function logBench(env: RunnerEnv, logMib: number) {
  // Whole 100-byte lines, so the stored log can be checked line by line.
  const bytes = Math.floor((logMib * 1024 * 1024) / 100) * 100;
  const job = await createJob(env);
  const started = Date.now();
  const run = startRunner(env, {
    jobId: job.metadata.id,
    phase: 'preview',
    token: 'bench-log',
    env: { STANDIN_LOG_BYTES: String(bytes), STANDIN_LOG_ON: 'plan', STACKJOBS_LOG_FLUSH_SECONDS: '5' },
  });
  let peakKb = 0;
  const poll = setInterval(() => {
    peakKb = Math.max(peakKb, rssKb(run.child.pid!, 'VmHWM'), rssKb(run.child.pid!, 'VmRSS'));
  }, 50);
  const done = await run.done;
  clearInterval(poll);
  if (done.code !== 0) throw new Error(`log bench failed: ${done.stderr}`);
  const seconds = (Date.now() - started) / 1000;

  // No loss, in order: stream every chunk back and check the numbered lines continue across chunk boundaries.
  const prefix = `jobs/${job.metadata.id}/logs/preview/plan/`;
  const keys: Array<{ key: string; size: number }> = [];
  let token: string | undefined;
  do {
    const page = await env.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) keys.push({ key: o.Key!, size: o.Size! });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  keys.sort((a, b) => (a.key < b.key ? -1 : 1));
  const contiguous = keys.every((k, i) => k.key.endsWith(`${String(i + 1).padStart(8, '0')}.log`));
  let expected = 0;
  let carry = '';
  let logBytes = 0;
  for (const { key } of keys) {
    const body = Buffer.from(await (await env.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToByteArray());
    const lines = (carry + body.toString('latin1')).split('\n');
    carry = lines.pop()!;
    for (const line of lines) {
      const m = /^standin log line (\d{10}) /.exec(line);
      if (!m) continue;
      if (Number(m[1]) !== expected) throw new Error(`line ${expected} expected, got ${m[1]} in ${key}`);
      expected++;
      logBytes += line.length + 1;
    }
  }
  const m = /^standin log line (\d{10}) /.exec(carry);
  if (m && Number(m[1]) === expected) {
    expected++;
    logBytes += carry.length;
  }
  return { bytes, seconds, peakMb: peakKb / 1024, chunks: keys.length, contiguous, linesInOrder: expected, complete: logBytes === bytes };
}

export interface OverheadResult {
  module: string;
  resources: number;
  /** Two tasks (preview, then update): runner and direct totals, per-phase orchestration (runner - direct). */
  runnerMs: Stat;
  directMs: Stat;
  ratio: Stat;
  previewOverheadMs: Stat;
  updateOverheadMs: Stat;
  /** The runner's own per-operation durations of the last two-task run (preview.init, update.apply, ...). */
  durations: Record<string, number>;
  /** The direct `terraform init` of the last run (ms): what the runner's init adds to it is the clone and the setup. */
  directInitMs: number;
  /** One task (no pause): runner vs direct (one init). */
  oneTask: { runnerMs: Stat; directMs: Stat; ratio: Stat; overheadMs: Stat };
  /** Whether the runner's update ran `terraform init` again (the direct side then does too). */
  updateInit: boolean;
}

/** One two-task job through the runner with a counting `terraform` wrapper: does the update run `init` again? */
async function updateRunsInit(env: RunnerEnv, bin: string, extra: Record<string, string>, gitRepo?: string): Promise<boolean> {
  const wrappers = countingWrappers(join(env.dir, `wrappers-${Date.now()}`), bin);
  const { job } = await runPhases(env, { ...extra, STACKJOBS_TERRAFORM_BIN: wrappers.terraform }, gitRepo);
  return callsFor(wrappers.log, job.metadata.id).inits > 1;
}

/** Two-task and one-task runs of one module through the runner and directly, `repeats` times after a warm-up. */
async function overheadOf(
  env: RunnerEnv,
  o: { module: string; resources: number; bin: string; mainTf?: string; gitRepo?: string; extra: Record<string, string>; repeats: number },
) {
  const runnerEnv = { ...o.extra, STACKJOBS_TERRAFORM_BIN: o.bin };
  // Warm-up (page cache, the terraform binary, the dynalite table) so neither side pays first-run costs; it also finds
  // out whether the runner's update runs `init` again, so the direct side runs the same commands.
  const updateInit = await updateRunsInit(env, o.bin, o.extra, o.gitRepo);
  await runDirect(env, o.bin, o.mainTf, o.extra, { updateInit });
  const two = { runner: [] as number[], direct: [] as number[], ratio: [] as number[], preview: [] as number[], update: [] as number[] };
  const one = { runner: [] as number[], direct: [] as number[], ratio: [] as number[], overhead: [] as number[] };
  let durations: Record<string, number> = {};
  let directInitMs = 0;
  for (let r = 0; r < o.repeats; r++) {
    const d = await runDirect(env, o.bin, o.mainTf, o.extra, { updateInit });
    const v = await runPhases(env, runnerEnv, o.gitRepo);
    two.runner.push(v.previewMs + v.updateMs);
    two.direct.push(d.previewMs + d.updateMs);
    two.ratio.push((v.previewMs + v.updateMs) / (d.previewMs + d.updateMs));
    two.preview.push(v.previewMs - d.previewMs);
    two.update.push(v.updateMs - d.updateMs);
    const d1 = await runDirect(env, o.bin, o.mainTf, o.extra, { oneTask: true, updateInit });
    const v1 = await runOneTask(env, runnerEnv, o.gitRepo);
    one.runner.push(v1.ms);
    one.direct.push(d1.previewMs + d1.updateMs);
    one.ratio.push(v1.ms / (d1.previewMs + d1.updateMs));
    one.overhead.push(v1.ms - (d1.previewMs + d1.updateMs));
    // The runner's own operation durations, from its task reports (the harness has no workflow to record them).
    durations = operationDurations(env, v.job.metadata.id);
    directInitMs = timeInit(env, o.bin, o.mainTf);
  }
  return {
    module: o.module,
    resources: o.resources,
    runnerMs: stat(two.runner),
    directMs: stat(two.direct),
    ratio: stat(two.ratio),
    previewOverheadMs: stat(two.preview),
    updateOverheadMs: stat(two.update),
    durations,
    directInitMs,
    oneTask: { runnerMs: stat(one.runner), directMs: stat(one.direct), ratio: stat(one.ratio), overheadMs: stat(one.overhead) },
    updateInit,
  } satisfies OverheadResult;
}

/** `<phase>.<operation>` -> ms, from the preview and update task reports of a two-task run. */
function operationDurations(env: RunnerEnv, jobId: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [phase, token] of [
    ['preview', `bench-p-${jobId}`],
    ['update', `bench-u-${jobId}`],
  ]) {
    const report = env.fake.reportsFor(token).find((c) => c.action === 'SendTaskSuccess');
    const durations = report?.body.output ? (JSON.parse(report.body.output) as { durations?: Record<string, number> }).durations : undefined;
    for (const [op, ms] of Object.entries(durations ?? {})) out[`${phase}.${op}`] = ms;
  }
  return out;
}

/** One `terraform init` in a fresh copy of the module (ms). */
function timeInit(env: RunnerEnv, bin: string, mainTf: string | undefined): number {
  const dir = join(env.dir, 'direct', `init-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  if (mainTf !== undefined) writeFileSync(join(dir, 'main.tf'), mainTf);
  const t0 = Date.now();
  runCommands(bin, dir, {}, [{ args: ['init', '-input=false', '-no-color', `-backend-config=path=${join(dir, 'terraform.tfstate')}`] }]);
  return Date.now() - t0;
}

export interface RunnerBenchResult {
  terraform: { bin: string; version: string };
  real: OverheadResult[];
  standin: { commandMs: number; runnerMs: Stat; directMs: Stat; ratio: Stat; previewOverheadMs: Stat; updateOverheadMs: Stat };
  log: { logMib: number; mbPerSecond: Stat; peakRssMb: Stat; complete: boolean; chunks: number };
}

/** The runner section of `npm run bench`. */
export async function runnerBench(o: { repeats: number; logMib: number; logRepeats: number; standinCommandMs: number }): Promise<RunnerBenchResult> {
  const terraform = realTerraform();
  const env = await startRunnerEnv();
  try {
    const flush = { STACKJOBS_LOG_FLUSH_SECONDS: '5' };
    const real: OverheadResult[] = [];
    for (const m of [
      { module: 'demo module (examples/modules/demo-bucket)', resources: 1, mainTf: demoModule() },
      { module: '50 terraform_data resources (generated)', resources: 50, mainTf: manyResourcesModule(50) },
    ]) {
      const gitRepo = moduleRepo(env.dir, m.resources === 1 ? 'demo' : 'tf50', m.mainTf);
      real.push(await overheadOf(env, { ...m, bin: terraform.bin, gitRepo, extra: flush, repeats: o.repeats }));
      process.stderr.write(`  runner: ${m.module} done\n`);
    }
    // The stand-in at 2 s per command: one pair after a warm-up (the fixed overhead against slow commands).
    const slow = { ...flush, STANDIN_SLEEP_MS: String(o.standinCommandMs) };
    const standinUpdateInit = await updateRunsInit(env, env.standin, flush);
    const d = await runDirect(env, env.standin, undefined, slow, { updateInit: standinUpdateInit });
    const v = await runPhases(env, { ...slow, STACKJOBS_TERRAFORM_BIN: env.standin });
    const standin = {
      commandMs: o.standinCommandMs,
      runnerMs: stat([v.previewMs + v.updateMs]),
      directMs: stat([d.previewMs + d.updateMs]),
      ratio: stat([(v.previewMs + v.updateMs) / (d.previewMs + d.updateMs)]),
      previewOverheadMs: stat([v.previewMs - d.previewMs]),
      updateOverheadMs: stat([v.updateMs - d.updateMs]),
    };
    const logs = [];
    for (let r = 0; r < o.logRepeats; r++) logs.push(await logBench(env, o.logMib));
    return {
      terraform,
      real,
      standin,
      log: {
        logMib: o.logMib,
        mbPerSecond: stat(logs.map((l) => l.bytes / 1048576 / l.seconds)),
        peakRssMb: stat(logs.map((l) => l.peakMb)),
        complete: logs.every((l) => l.complete && l.contiguous),
        chunks: logs[0]?.chunks ?? 0,
      },
    };
  } finally {
    await env.stop();
  }
}

async function main() {
  const logMib = Number(process.argv[2] ?? 1024);
  const repeats = Number(process.argv[3] ?? 3);
  const r = await runnerBench({ repeats, logMib, logRepeats: 1, standinCommandMs: 2000 });
  console.log(JSON.stringify(r, null, 2));
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
