/**
 * `npm run local` stopped while a job applies and another awaits approval — by SIGKILL, then by Ctrl-C (SIGINT) —
 * and started again on the same data directory: every job ends or is decidable within a minute, the stack takes its
 * next job, nothing is applied twice, and the logs up to the interruption are kept. Real processes throughout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StackJob } from '../../lambdas/domain/schemas';
import { buildStandin } from '../support/standin-iac/build';

const ROOT = join(__dirname, '../..');
const OPERATOR = 'local-operator-token';
const APPROVER = 'local-approver-token';
let dataDir: string;
let child: ChildProcess | undefined;
let api = '';
let output = '';

async function start(): Promise<void> {
  output = '';
  child = spawn(process.execPath, [join(ROOT, 'node_modules/.bin/tsx'), join(ROOT, 'local/main.ts')], {
    env: {
      ...process.env,
      STACKJOBS_PORT: '0',
      STACKJOBS_DATA_DIR: dataDir,
      STACKJOBS_TERRAFORM_BIN: buildStandin(),
      STACKJOBS_GRACE_SECONDS: '3',
      STACKJOBS_LOG_FLUSH_SECONDS: '1',
      NODE_OPTIONS: '--openssl-legacy-provider',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, as a terminal gives it: Ctrl-C and `kill -9 -<pgid>` reach every process of it.
    detached: true,
  });
  child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
  api = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line:\n${output}`)), 90000);
    const check = () => {
      const m = /stackjobs local ready on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child!.stdout!.on('data', check);
    child!.once('exit', (code) => reject(new Error(`local mode exited (${code}):\n${output}`)));
  });
}

async function stop(signal: NodeJS.Signals): Promise<void> {
  const c = child!;
  const exited = new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));
  process.kill(-c.pid!, signal);
  await exited;
  // The group's other processes (tsx's node, the runners) are gone too after SIGKILL; after SIGINT they stop themselves.
  if (signal === 'SIGINT') await new Promise((r) => setTimeout(r, 500));
  child = undefined;
}

async function call<T>(method: string, path: string, token = OPERATOR, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${api}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

async function waitFor(id: string, until: (j: StackJob) => boolean, timeoutMs = 60000): Promise<StackJob> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await call<StackJob>('GET', `/v1/stack-jobs/${id}`);
    if (until(body)) return body;
    if (Date.now() > deadline) throw new Error(`job ${id} stuck at ${JSON.stringify(body.status)}\n${output.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function change(resourceId: string, version: string, spec: Record<string, unknown> = { tier: 'standard' }) {
  return {
    resource: { id: resourceId, name: resourceId, org: 'acmecorp', env: 'production', version: { id: version, message: version } },
    kind: 'demo_bucket',
    spec,
    triggerEvent: 'updated',
    createdBy: 'dev@acmecorp.example',
  };
}

const submit = async (c: ReturnType<typeof change>) => {
  const res = await call<StackJob>('POST', '/v1/stack-jobs', OPERATOR, c);
  if (res.status !== 201) throw new Error(`submit answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
};
const awaiting = (j: StackJob) => j.status.phase === 'awaiting_approval';
const applying = (j: StackJob) => j.status.operations.find((o) => o.name === 'apply')?.status === 'running';
const done = (j: StackJob) => j.status.phase === 'completed';
beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'stackjobs-restart-'));
});
afterAll(async () => {
  if (child) await stop('SIGKILL').catch(() => undefined);
  rmSync(dataDir, { recursive: true, force: true });
});

/** One job applying (hung in apply), one awaiting approval, one queued behind the applying one. */
async function interruptible(suffix: string) {
  const applyingJob = await submit(change(`restart_apply_${suffix}`, 'v1', { tier: 'standard', standin: { hang: ['apply'] } }));
  await waitFor(applyingJob.metadata.id, awaiting);
  expect((await call('POST', `/v1/stack-jobs/${applyingJob.metadata.id}/approve`, APPROVER, {})).status).toBe(200);
  await waitFor(applyingJob.metadata.id, applying);
  const waiting = await submit(change(`restart_wait_${suffix}`, 'v1'));
  await waitFor(waiting.metadata.id, awaiting);
  const queued = await submit(change(`restart_apply_${suffix}`, 'v2', { tier: 'premium' }));
  await waitFor(queued.metadata.id, (j) => j.status.phase === 'queued' && j.status.queuePosition === 1);
  // The hung apply's line has been flushed to S3 (every second here) before the stop.
  await new Promise((r) => setTimeout(r, 2500));
  return { applyingJob, waiting, queued };
}

async function afterRestart(jobs: Awaited<ReturnType<typeof interruptible>>) {
  const started = Date.now();
  const applyEnded = await waitFor(jobs.applyingJob.metadata.id, done);
  expect(applyEnded.status).toMatchObject({ result: 'failed', reason: 'interrupted', failure: { operation: 'apply' } });
  const waitEnded = await waitFor(jobs.waiting.metadata.id, done);
  expect(waitEnded.status).toMatchObject({ result: 'failed', reason: 'interrupted' });
  // The stack takes its next job, which is decidable.
  const next = await waitFor(jobs.queued.metadata.id, awaiting);
  expect(Date.now() - started).toBeLessThan(60000);
  expect(next.status.approval?.decision).toBeUndefined();
  // Logs up to the interruption are kept.
  const logs = await call<{ text: string }>('GET', `/v1/stack-jobs/${jobs.applyingJob.metadata.id}/logs?phase=update&operation=apply`);
  expect(logs.body.text).toContain('standin: apply is hanging');
  return next;
}

it('recovers from SIGKILL and from Ctrl-C: interrupted jobs end, the next job runs, nothing is applied twice', async () => {
  await start();
  const first = await interruptible('kill');
  await stop('SIGKILL');
  await start();
  expect(output).toContain('ended interrupted');
  const next = await afterRestart(first);
  // The queued job's plan was made against state the interrupted apply never wrote: it creates, not updates twice.
  expect((await call('POST', `/v1/stack-jobs/${next.metadata.id}/approve`, APPROVER, {})).status).toBe(200);
  expect((await waitFor(next.metadata.id, done)).status.result).toBe('succeeded');
  // One apply ever wrote this stack's state: the next job's. The interrupted one, and its tool, never did.
  const state = JSON.parse(readFileSync(join(dataDir, 'state', 'stack-jobs', 'acmecorp', 'production', 'restart_apply_kill', 'terraform.tfstate'), 'utf8')) as {
    serial: number;
    resources: Record<string, unknown>;
  };
  expect(state.serial).toBe(1);
  expect(state.resources['standin_value.tier']).toBe('premium');
  const interruptedLog = (await call<{ text: string }>('GET', `/v1/stack-jobs/${first.applyingJob.metadata.id}/logs?phase=update&operation=apply`)).body.text;
  expect(interruptedLog.match(/\$ terraform apply/g)).toHaveLength(1);

  const second = await interruptible('int');
  await stop('SIGINT');
  expect(output).toContain('SIGINT: stopping local mode');
  await start();
  await afterRestart(second);

  // A second local mode on the same data directory is refused, naming the directory and the holder.
  const other = spawn(process.execPath, [join(ROOT, 'node_modules/.bin/tsx'), join(ROOT, 'local/main.ts')], {
    env: { ...process.env, STACKJOBS_PORT: '0', STACKJOBS_DATA_DIR: dataDir, NODE_OPTIONS: '--openssl-legacy-provider' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let otherOut = '';
  other.stdout!.on('data', (b: Buffer) => (otherOut += b.toString()));
  other.stderr!.on('data', (b: Buffer) => (otherOut += b.toString()));
  const code = await new Promise<number | null>((r) => other.once('exit', (c) => r(c)));
  expect(code).toBe(1);
  expect(otherOut).toContain(`the data directory ${dataDir} is in use by another local mode (pid `);
  await stop('SIGINT');
}, 300000);
