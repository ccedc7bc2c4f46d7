/**
 * `npm run demo`: starts local mode in a temporary data directory, submits the example change, shows the preview
 * and its plan, approves it (asking on a terminal unless --yes), shows the apply and the outputs, then submits an
 * update to the same resource to show a second plan with a change. Exits 0 when both jobs succeed, or when the first
 * plan is rejected (answered n, or --reject): nothing is applied then, and the demo says so.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { parse } from 'yaml';
import { ApiClient } from '../cli/api-client';
import { cliCommand } from '../cli/invocation';
import { followJob, lineView, terminalView } from '../cli/progress';
import { paintFor, renderPlanChanges } from '../cli/render';
import type { PlanChanges } from '../lambdas/domain/plan-changes';
import type { PlanSummary } from '../lambdas/domain/schemas';
import type { ResourceChange, StackJob } from '../lambdas/domain/schemas';
import { REPO_ROOT, type LocalMode } from './local-mode';
import { startFromEnv } from './main';

const OPERATOR = 'local-operator-token';
const APPROVER = 'local-approver-token';

async function confirm(question: string, auto: boolean): Promise<boolean> {
  if (process.argv.includes('--reject')) {
    console.log(`${question} no (--reject)`);
    return false;
  }
  if (auto || !process.stdin.isTTY) {
    console.log(`${question} yes (automatic${auto ? ', --yes' : ': not a terminal'})`);
    return true;
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  // Ctrl-C at the prompt reaches readline, not the process: passed on, so the demo stops and cleans up as elsewhere.
  rl.on('SIGINT', () => process.kill(process.pid, 'SIGINT'));
  const answer = await rl.question(`${question} [Y/n] `);
  rl.close();
  return !/^n/i.test(answer.trim());
}

async function runJob(operator: ApiClient, approver: ApiClient, change: ResourceChange, autoApprove: boolean): Promise<StackJob> {
  const view = (planShown = false) => (process.stdout.isTTY ? terminalView(process.stdout, { planShown }) : lineView(process.stdout, { planShown }));
  const { body: submitted } = await operator.request<StackJob>('POST', '/v1/stack-jobs', change);
  console.log(`\nsubmitted ${submitted.metadata.id}: ${change.resource.version.message}`);
  let job = await followJob(operator, submitted.metadata.id, { stopAtApproval: true, view: view(), intervalMs: 250 });
  if (job.status.phase === 'awaiting_approval') {
    // What the approver approves: every resource and attribute that changes.
    const { body: plan } = await operator.request<PlanChanges & { digest: string; summary: PlanSummary }>(
      'GET',
      `/v1/stack-jobs/${job.metadata.id}/plan/changes`,
    );
    console.log(`\n${renderPlanChanges(plan, paintFor(process.stdout, process.env))}\n`);
    const yes = await confirm(`approve ${job.metadata.id} as approver@acmecorp.example?`, autoApprove);
    await approver.request('POST', `/v1/stack-jobs/${job.metadata.id}/${yes ? 'approve' : 'reject'}`, { comment: 'from npm run demo' });
    job = await followJob(operator, job.metadata.id, { view: view(true), intervalMs: 250 });
  }
  return job;
}

/** The rest of the demo after an approved first job: its outputs, then an update of the same resource. */
async function showOutputsThenUpdate(
  operator: ApiClient,
  approver: ApiClient,
  change: ResourceChange,
  first: StackJob,
  autoApprove: boolean,
  local: LocalMode,
  started: number,
  quiet: string[],
): Promise<boolean> {
  const { body: outputs } = await operator.request<{ outputs: Record<string, { value: unknown; sensitive: boolean }> }>(
    'GET',
    `/v1/stack-jobs/${first.metadata.id}/outputs`,
  );
  console.log('outputs:');
  for (const [k, v] of Object.entries(outputs.outputs)) console.log(`  ${k} = ${JSON.stringify(v.value)}${v.sensitive ? ' (sensitive)' : ''}`);
  // The demo's local mode listens on a port of its own and stops when the demo ends: the hint names both.
  console.log(
    `logs (while the demo runs): ${cliCommand(process.env)} --endpoint ${local.apiUrl} --token ${OPERATOR} logs ${first.metadata.id}  (S3: s3://${local.names.artifactsBucket}/jobs/${first.metadata.id}/logs/)`,
  );

  const update: ResourceChange = {
    ...change,
    resource: { ...change.resource, version: { id: 'ver-demo-2', message: 'Move the demo assets bucket to the premium tier' } },
    spec: { ...change.spec, tier: 'premium' },
    triggerEvent: 'updated',
  };
  const second = await runJob(operator, approver, update, autoApprove);
  const ok = [first, second].every((j) => j.status.result === 'succeeded');
  console.log(
    `\n${ok ? 'demo finished' : 'demo failed'} in ${((Date.now() - started) / 1000).toFixed(1)}s: ${first.metadata.id} ${first.status.result}, ${second.metadata.id} ${second.status.result}`,
  );
  if (!ok) console.log(quiet.slice(-30).join('\n'));
  return ok;
}

/**
 * Removes the demo's data directory once the demo's process is gone, however it went. The demo cleans up itself when
 * it can (below), but not after a Ctrl-C during the synth: the synth holds the event loop for seconds, and tsx, which
 * runs the demo, SIGKILLs a child that does not answer a signal within 60 ms. So a small detached process, outside
 * the terminal's process group (Ctrl-C does not reach it), waits for the demo's end and removes the directory then.
 */
function removeWhenGone(dir: string): void {
  const script = [
    'const [pid, dir] = process.argv.slice(1);',
    'setInterval(() => {',
    '  try { process.kill(Number(pid), 0); } catch (e) {',
    "    if (e.code === 'EPERM') return;",
    "    require('node:fs').rmSync(dir, { recursive: true, force: true });",
    '    process.exit(0);',
    '  }',
    '}, 250);',
  ].join('\n');
  spawn(process.execPath, ['-e', script, String(process.pid), dir], { detached: true, stdio: 'ignore' }).unref();
}

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  const autoApprove = process.argv.includes('--yes');
  const started = Date.now();
  const dataDir = mkdtempSync(join(tmpdir(), 'stackjobs-demo-'));
  // The demo made the data directory, so it removes it, however the demo ends: done, failed to start, or Ctrl-C.
  removeWhenGone(dataDir);
  let local: Awaited<ReturnType<typeof startFromEnv>> | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanUp = () =>
    (cleaning ??= (async () => {
      try {
        await local?.stop();
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    })());
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    // `on`, not `once`: with no listener left, a second Ctrl-C would end the process before the cleanup did.
    process.on(signal, () => {
      if (!cleaning) console.log(`\n${signal}: stopping the demo and removing ${dataDir}`);
      void cleanUp().finally(() => process.exit(code));
    });
  }
  const quiet: string[] = [];
  let ok = false;
  try {
    console.log('starting local mode');
    local = await startFromEnv({
      env: { ...process.env, STACKJOBS_DATA_DIR: dataDir, STACKJOBS_PORT: process.env.STACKJOBS_PORT ?? '0', STACKJOBS_IN_MEMORY: 'true' },
      // Its startup steps are shown, so the synth's seconds are not silence; its running chatter (runners, events)
      // is kept, and shown only if the demo fails.
      log: (l) => (/^(neither|starting:|building)/.test(l) ? console.log(l) : quiet.push(l)),
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- test equipment, loaded only when no real IaC binary exists
      fallbackTerraformBin: () => (require('../test/support/standin-iac/build') as typeof import('../test/support/standin-iac/build')).buildStandin(),
    });
    console.log(`stackjobs local ready on ${local.apiUrl} (data in ${dataDir}, IaC: ${local.iac})`);
    const operator = new ApiClient({ endpoint: local.apiUrl, token: OPERATOR });
    const approver = new ApiClient({ endpoint: local.apiUrl, token: APPROVER });
    const change = parse(readFileSync(join(REPO_ROOT, 'examples', 'local', 'change.yaml'), 'utf8')) as ResourceChange;

    const first = await runJob(operator, approver, change, autoApprove);
    if (first.status.reason === 'rejected') {
      // Saying no is a fine way to end the demo: nothing was applied, and that is what the product promises.
      console.log(`\nrejected; nothing was applied. The demo ends here (run it again and answer y to see the apply).`);
      ok = true;
    } else {
      await showOutputsThenUpdate(operator, approver, change, first, autoApprove, local, started, quiet).then((done) => (ok = done));
    }
  } finally {
    await cleanUp();
  }
  process.exit(ok ? 0 : 1);
}

main().catch((e: Error) => {
  console.error(`demo failed: ${e.message}`);
  process.exit(1);
});
