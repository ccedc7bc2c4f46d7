/**
 * Runner benchmark (issue 3), on one machine in one run:
 *  1. overhead: a preview + update through the runner vs the same stand-in CLI commands run directly,
 *     with the tool taking ~2 s per command (target ratio <= 1.10);
 *  2. log pipeline: a tool printing 1 GiB — throughput, the runner's peak RSS (target < 150 MB),
 *     no loss (stored bytes = printed bytes) and every chunk in order (line numbers continuous).
 * Run: NODE_OPTIONS=--openssl-legacy-provider npx tsx bench/runner.bench.ts [logMiB=1024] [commandMs=2000]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { moduleInputs } from '../runner-image/src/module-config';
import { BUCKET, createJob, startRunner, startRunnerEnv, type RunnerEnv } from '../test/runner/support/harness';

const LOG_MIB = Number(process.argv[2] ?? 1024);
const COMMAND_MS = Number(process.argv[3] ?? 2000);

const rssKb = (pid: number, field: 'VmRSS' | 'VmHWM') => {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
};

export async function runPhases(env: RunnerEnv, extra: Record<string, string>) {
  const job = await createJob(env);
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

/** The same seven commands the runner issues, run directly (no clone, no S3, no Dynamo). */
export async function runDirect(env: RunnerEnv, extra: Record<string, string>) {
  const job = await createJob(env);
  const dir = join(env.dir, 'direct', job.metadata.id);
  mkdirSync(dir, { recursive: true });
  const vars = join(dir, 'terraform.tfvars.json');
  writeFileSync(vars, JSON.stringify(moduleInputs(job)));
  const run = (...args: string[]) =>
    execFileSync(env.standin, args, { cwd: dir, env: { PATH: process.env.PATH, ...extra }, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
  const tolerate = (...args: string[]) => {
    try {
      run(...args);
    } catch (e) {
      if ((e as { status?: number }).status !== 2) throw e;
    }
  };
  const t0 = Date.now();
  run('init', '-input=false', `-backend-config=path=${join(dir, 'state.json')}`);
  run('apply', '-refresh-only', '-auto-approve', '-input=false', '-json', `-var-file=${vars}`);
  tolerate('plan', '-input=false', '-json', '-out=plan.bin', '-detailed-exitcode', '-refresh=false', `-var-file=${vars}`);
  run('show', '-json', 'plan.bin');
  const t1 = Date.now();
  run('init', '-input=false', `-backend-config=path=${join(dir, 'state.json')}`);
  run('apply', '-input=false', '-auto-approve', '-json', 'plan.bin');
  run('output', '-json');
  return { previewMs: t1 - t0, updateMs: Date.now() - t1 };
}

/** Pushes `logMib` MiB of numbered lines through the runner and reads them back: MB/s, peak RSS, loss and order. */
export async function logBench(env: RunnerEnv, logMib = LOG_MIB) {
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

async function main() {
  const env = await startRunnerEnv();
  try {
    const slow = { STANDIN_SLEEP_MS: String(COMMAND_MS), STACKJOBS_LOG_FLUSH_SECONDS: '5' };
    // Warm-up (page cache, esbuild bundle, dynalite table) so neither side pays first-run costs.
    await runPhases(env, { STACKJOBS_LOG_FLUSH_SECONDS: '5' });
    await runDirect(env, {});
    const direct = await runDirect(env, slow);
    const viaRunner = await runPhases(env, slow);
    const directTotal = direct.previewMs + direct.updateMs;
    const runnerTotal = viaRunner.previewMs + viaRunner.updateMs;
    const log = await logBench(env);
    const row = (a: string, b: string, c: string) => `| ${a.padEnd(34)} | ${b.padStart(12)} | ${c.padStart(12)} |`;
    console.log(`\nRunner benchmark — node ${process.version}, ${COMMAND_MS} ms per tool command, ${LOG_MIB} MiB of log\n`);
    console.log(row('measure', 'runner', 'direct CLI'));
    console.log(row('-'.repeat(34), '-'.repeat(12), '-'.repeat(12)));
    console.log(row('preview wall (4 commands)', `${viaRunner.previewMs} ms`, `${direct.previewMs} ms`));
    console.log(row('update wall (3 commands)', `${viaRunner.updateMs} ms`, `${direct.updateMs} ms`));
    console.log(row('preview + update', `${runnerTotal} ms`, `${directTotal} ms`));
    console.log(row('overhead ratio (target <= 1.10)', (runnerTotal / directTotal).toFixed(3), ''));
    console.log(row('absolute overhead: preview', `${viaRunner.previewMs - direct.previewMs} ms`, ''));
    console.log(row('absolute overhead: update', `${viaRunner.updateMs - direct.updateMs} ms`, ''));
    console.log(row(`log pipeline, ${LOG_MIB} MiB`, `${(log.bytes / 1048576 / log.seconds).toFixed(1)} MB/s`, ''));
    console.log(row('runner peak RSS (target < 150 MB)', `${log.peakMb.toFixed(1)} MB`, ''));
    console.log(row('log chunks stored / contiguous seq', `${log.chunks} / ${log.contiguous}`, ''));
    console.log(row('no loss, lines in order', `${log.complete} (${log.linesInOrder} lines)`, ''));
  } finally {
    await env.stop();
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
