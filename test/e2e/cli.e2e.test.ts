/**
 * The `stackjobs` CLI as a newcomer meets it, run for real against local mode: the plan an approver reads, following
 * a job after a decision, `get`/`list`/`logs` that answer an operator's questions, and errors that say what to do.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse, stringify } from 'yaml';
import { runCli } from '../../cli/stackjobs';
import type { StackJob } from '../../lambdas/domain/schemas';
import { bucketChange, startE2E, TOKENS, type E2E } from '../support/e2e-harness';

let e: E2E;
const dir = mkdtempSync(join(tmpdir(), 'stackjobs-cli-e2e-'));
beforeAll(async () => {
  e = await startE2E();
}, 90000);
afterAll(async () => {
  // Jobs left awaiting approval are ended first: an execution parked on its approval task keeps the in-process
  // interpreter (and so this test process) alive after local mode stops.
  const open = await e?.call<{ items: StackJob[] }>('GET', '/v1/stack-jobs', {
    token: TOKENS.operator,
    query: { org: 'acmecorp', phase: 'awaiting_approval', limit: '100' },
  });
  for (const job of open?.body.items ?? []) await e.call('POST', `/v1/stack-jobs/${job.metadata.id}/cancel`, { token: TOKENS.operator });
  await e?.stop();
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
const file = (doc: unknown) => {
  const p = join(dir, `change-${++n}.yaml`);
  writeFileSync(p, stringify(doc));
  return p;
};

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real CLI; `auth` false leaves out --endpoint and --token (profiles, variables and errors are tested so).
 * `live` sees the output while the command still runs.
 */
async function cli(
  args: string[],
  o: { token?: string; env?: NodeJS.ProcessEnv; auth?: boolean; tty?: boolean; live?: { stdout: string } } = {},
): Promise<Run> {
  const live = o.live ?? { stdout: '' };
  let stderr = '';
  const base = o.auth === false ? [] : ['--endpoint', e.local.apiUrl, '--token', o.token ?? TOKENS.operator];
  const code = await runCli([...base, ...args], {
    stdout: { write: (s: string) => ((live.stdout += s), true), isTTY: o.tty } as never,
    stderr: { write: (s: string) => ((stderr += s), true) } as never,
    env: o.env ?? {},
    fetchImpl: e.fetch,
  });
  return { code, stdout: live.stdout, stderr };
}

/** What npm and npx put in the environment of what they run (`npx --no -- stackjobs`, as the README runs the CLI). */
const VIA_NPX = { npm_command: 'exec', npm_lifecycle_event: 'npx', npm_execpath: '/usr/lib/node_modules/npm/bin/npm-cli.js' };

const awaiting = (j: StackJob) => j.status.phase === 'awaiting_approval' || j.status.phase === 'completed';
const jobIdIn = (text: string) => /(sj_[0-9a-z]{26})/.exec(text)![1];

describe('what an approver sees', () => {
  it('submit --wait shows every resource and attribute that changes before the approval hint, and `plan` shows it again (-o json as data)', async () => {
    const run = await cli([
      'submit',
      '--wait',
      '-f',
      file(bucketChange('cli_plan', 'v1', { env: 'production', spec: { tier: 'standard', versioning: true } })),
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/\+ \S+ will be created/);
    expect(run.stdout).toMatch(/Plan: 2 to add, 0 to change, 0 to destroy, 0 to replace\./);
    expect(run.stdout).toContain(`stackjobs approve ${jobIdIn(run.stdout)}`);
    expect(run.stdout).toContain('approver role in acmecorp');
    expect(run.stdout).toContain('--token local-approver-token');
    // Piped: no colour codes.
    expect(run.stdout).not.toMatch(/\x1b\[/);

    const id = jobIdIn(run.stdout);
    const text = await cli(['plan', id]);
    expect(text.stdout).toMatch(/Plan: 2 to add/);
    const data = await cli(['-o', 'json', 'plan', id]);
    const plan = JSON.parse(data.stdout) as { resources: Array<{ action: string; attributes: unknown[] }>; summary: { add: number } };
    expect(plan.summary.add).toBe(2);
    expect(plan.resources.every((r) => r.action === 'create')).toBe(true);
  });

  it('colours the plan on a terminal, and not with NO_COLOR', async () => {
    const job = await e.call<StackJob>('POST', '/v1/stack-jobs', { body: bucketChange('cli_colour', 'v1', { env: 'production' }) });
    await e.waitFor(job.body.metadata.id, awaiting);
    expect((await cli(['plan', job.body.metadata.id], { tty: true })).stdout).toMatch(/\x1b\[32m\+\x1b\[0m/);
    expect((await cli(['plan', job.body.metadata.id], { tty: true, env: { NO_COLOR: '1' } })).stdout).not.toMatch(/\x1b\[/);
  });
});

describe('following a job after a decision', () => {
  it('approve --wait follows the job to its end; reject --wait reports who rejected and why, and exits 1', async () => {
    const toApprove = jobIdIn((await cli(['submit', '--wait', '-f', file(bucketChange('cli_approve_wait', 'v1', { env: 'production' }))])).stdout);
    const approved = await cli(['approve', toApprove, '--wait', '--comment', 'looks right'], { token: TOKENS.approver });
    expect(approved.code).toBe(0);
    expect(approved.stdout).toContain(`${toApprove}  completed/succeeded`);

    const toReject = jobIdIn((await cli(['submit', '--wait', '-f', file(bucketChange('cli_reject_wait', 'v1', { env: 'production' }))])).stdout);
    const rejected = await cli(['reject', toReject, '--wait', '--comment', 'not on a Friday'], { token: TOKENS.approver });
    expect(rejected.code).toBe(1);
    expect(rejected.stdout).toContain('rejected by approver@acmecorp.example: "not on a Friday"; nothing was applied');
    // Said as what it was, not as a cancel (the result field keeps the API's word).
    expect(rejected.stdout).not.toMatch(/(?<!\/)cancelled/);
  });

  it('rerun --wait follows the new job; cancel --wait of a queued or waiting job says how it ended', async () => {
    const first = jobIdIn((await cli(['submit', '--wait', '-f', file(bucketChange('cli_rerun_wait', 'v1', { env: 'production' }))])).stdout);
    const cancelled = await cli(['cancel', first, '--wait']);
    expect([cancelled.code, cancelled.stdout]).toEqual([0, expect.stringContaining(`cancelled by dev@acmecorp.example`)]);
    const rerun = await cli(['rerun', first, '--wait']);
    expect(rerun.code).toBe(0);
    const second = /rerun of sj_\w+: (sj_\w+)/.exec(rerun.stdout)![1];
    expect(second).not.toBe(first);
    expect(rerun.stdout).toContain(`stackjobs approve ${second}`);
  });

  it("the example plan policy's two approvals can be given with the example config's two approver tokens", async () => {
    // examples/local/plan-policy.yaml as written, narrowed to one resource so the other tests' production jobs need one approval.
    const policy = parse(readFileSync(join(__dirname, '..', '..', 'examples', 'local', 'plan-policy.yaml'), 'utf8')) as { id: string; selector: object };
    const selector = { level: 'resource', org: 'acmecorp', env: 'production', resourceId: 'cli_two_approvers' };
    const put = await e.call('PUT', `/v1/orgs/acmecorp/plan-policies/${policy.id}`, { token: TOKENS.admin, body: { ...policy, selector } });
    expect(put.status).toBeLessThan(300);
    const submitted = await cli(['submit', '--wait', '-f', file(bucketChange('cli_two_approvers', 'v1', { env: 'production' }))]);
    const id = jobIdIn(submitted.stdout);
    expect(submitted.stdout).toContain('Policy outcome: 2 distinct approvals needed');
    const first = await cli(['approve', id], { token: TOKENS.approver });
    expect(first.stdout).toContain('(1 of 2 approvals; waiting for another approver)');
    const second = await cli(['approve', id, '--wait'], { token: 'local-approver2-token' });
    expect([second.code, second.stdout]).toEqual([0, expect.stringContaining(`${id}  completed/succeeded`)]);
  });

  it('approve --wait prints the log lines of the apply while it runs; cancel during the apply says it finishes and nothing after it runs', async () => {
    const hanging = bucketChange('cli_long_apply', 'v1', { env: 'production', spec: { tier: 'standard', standin: { hang: ['apply'] } } });
    const id = jobIdIn((await cli(['submit', '--wait', '-f', file(hanging)])).stdout);
    const live = { stdout: '' };
    const approving = cli(['approve', id, '--wait'], { token: TOKENS.approver, live });
    // The apply hangs until it is stopped, so a log line seen now was printed while approve --wait still waited.
    for (const deadline = Date.now() + 30000; !live.stdout.includes('standin: apply is hanging'); await new Promise((r) => setTimeout(r, 200)))
      if (Date.now() > deadline) throw new Error(`approve --wait printed no log line while the apply ran:\n${live.stdout}`);
    expect(live.stdout).toMatch(/\n {2}standin: apply is hanging\n/);

    const cancelled = await cli(['cancel', id]);
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout).toContain(`cancel recorded for ${id}: the apply is running and will finish`);
    expect(cancelled.stdout).toContain('nothing after it runs');
    expect(cancelled.stdout).not.toContain('running/tbd');

    // This apply would never finish: an admin ends it, and the follow reports how.
    expect((await cli(['force-cancel', id, '--reason', 'the test apply hangs'], { token: TOKENS.admin })).code).toBe(0);
    const approved = await approving;
    expect(approved.code).toBe(1);
    expect(approved.stdout).toContain('force-cancelled by admin@acmecorp.example');
  }, 60000);
});

describe("answers to an operator's questions", () => {
  it('`logs --follow` stops and says so when the job waits for approval, and exits 1 for a failed job', async () => {
    const waiting = jobIdIn((await cli(['submit', '--wait', '-f', file(bucketChange('cli_logs_wait', 'v1', { env: 'production' }))])).stdout);
    const followed = await cli(['logs', waiting, '--follow']);
    expect(followed.code).toBe(0);
    expect(followed.stderr).toContain(`stopped following: the job is awaiting approval (stackjobs plan ${waiting}; stackjobs approve ${waiting})`);

    const failing = jobIdIn((await cli(['submit', '-f', file(bucketChange('cli_logs_fail', 'v1', { spec: { standin: { fail: ['plan'] } } }))])).stdout);
    const failed = await cli(['logs', failing, '--follow']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/operation_failed in plan/);
  });

  it('`get` shows the reason, the plan summary, who decided and when, and the durations; `list` filters by result and pages with a hint', async () => {
    const id = jobIdIn((await cli(['submit', '--wait', '-f', file(bucketChange('cli_get', 'v1', { env: 'production' }))])).stdout);
    await cli(['approve', id, '--wait', '--comment', 'fine'], { token: TOKENS.approver });
    const got = await cli(['get', id]);
    expect(got.stdout).toContain('reason     succeeded');
    expect(got.stdout).toMatch(/plan {7}Plan: 1 to add/);
    expect(got.stdout).toMatch(/decision {3}approved by approver@acmecorp\.example at \S+ \(api\): "fine"/);
    expect(got.stdout).toMatch(/durations {2}preview\.init [\d.]+m?s/);

    const listed = await cli(['list', '--org', 'acmecorp', '--result', 'succeeded', '--limit', '1']);
    expect(listed.stdout.split('\n')[0]).toMatch(/^JOB {2}PHASE\/RESULT {2}REASON/);
    expect(listed.stdout).toMatch(/completed\/succeeded/);
    const more = /more: (stackjobs list .*--cursor \S+)/.exec(listed.stdout);
    expect(more).not.toBeNull();
    const next = await cli(more![1].split(' ').slice(1));
    expect(next.code).toBe(0);
    expect(next.stdout.split('\n')[1]).not.toBe(listed.stdout.split('\n')[1]);
    // Every "more" leads to jobs, to the last page, which offers none (the filter leaves out most of the org's jobs).
    let page = next;
    for (let pages = 0; /more: /.test(page.stdout); pages++) {
      expect(pages).toBeLessThan(20);
      page = await cli(/more: (stackjobs list .*--cursor \S+)/.exec(page.stdout)![1].split(' ').slice(1));
      expect(page.stdout).toMatch(/completed\/succeeded/);
    }
  });

  it('`list` offers no "more" after the last job', async () => {
    const only = jobIdIn((await cli(['submit', '-f', file(bucketChange('cli_list_one', 'v1'))])).stdout);
    await e.waitFor(only, (j) => j.status.phase === 'completed');
    const listed = await cli(['list', '--org', 'acmecorp', '--env', 'dev', '--resource', 'cli_list_one', '--limit', '1']);
    expect(listed.stdout).toContain(only);
    expect(listed.stdout).not.toContain('more:');
  });

  it('force-cancel ends a job for an admin and records why', async () => {
    const id = jobIdIn((await cli(['submit', '--wait', '-f', file(bucketChange('cli_force', 'v1', { env: 'production' }))])).stdout);
    const refused = await cli(['force-cancel', id, '--reason', 'stuck']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/403 .*admin/);
    const forced = await cli(['force-cancel', id, '--reason', 'stuck'], { token: TOKENS.admin });
    expect([forced.code, forced.stdout]).toEqual([0, expect.stringContaining('force-cancelled by admin@acmecorp.example: "stuck"')]);
  });
});

describe('the first-hour habits', () => {
  it('prints its version and completion scripts for bash, zsh and fish', async () => {
    expect((await cli(['--version'], { auth: false })).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    for (const shell of ['bash', 'zsh', 'fish']) {
      const script = await cli(['completion', shell], { auth: false });
      expect(script.code).toBe(0);
      for (const command of ['submit', 'plan', 'approve', 'force-cancel', 'completion']) expect(script.stdout).toContain(command);
    }
    expect((await cli(['completion', 'tcsh'], { auth: false })).code).toBe(2);
  });

  it('takes the endpoint and token from a named profile; a flag or variable wins over it; a missing profile is named', async () => {
    const config = join(dir, 'config.yaml');
    writeFileSync(
      config,
      stringify({
        current: 'local',
        profiles: { local: { endpoint: e.local.apiUrl, token: TOKENS.operator }, approver: { endpoint: e.local.apiUrl, token: TOKENS.approver } },
      }),
    );
    const id = jobIdIn((await cli(['submit', '--wait', '-f', file(bucketChange('cli_profile', 'v1', { env: 'production' }))])).stdout);
    const viaCurrent = await cli(['get', id], { auth: false, env: { STACKJOBS_PROFILES: config } });
    expect([viaCurrent.code, viaCurrent.stderr]).toEqual([0, '']);
    // The operator (current profile) may not approve; the approver profile may.
    expect((await cli(['approve', id], { auth: false, env: { STACKJOBS_PROFILES: config } })).code).toBe(1);
    expect((await cli(['--profile', 'approver', 'approve', id], { auth: false, env: { STACKJOBS_PROFILES: config } })).code).toBe(0);
    const missing = await cli(['--profile', 'prod', 'get', id], { auth: false, env: { STACKJOBS_PROFILES: config } });
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringContaining('no profile prod in')]);
    // A variable beats the profile's token: a wrong one is refused.
    expect((await cli(['get', id], { auth: false, env: { STACKJOBS_PROFILES: config, STACKJOBS_TOKEN: 'not-a-token' } })).code).toBe(1);
  });

  it('leaves STACKJOBS_CONFIG to local mode: its config there is skipped with a note; a profiles file there (the old variable) is still read', async () => {
    // The default profiles file, under HOME, names the endpoint.
    const home = join(dir, 'home');
    const profiles = join(home, '.config', 'stackjobs', 'config.yaml');
    mkdirSync(dirname(profiles), { recursive: true });
    writeFileSync(profiles, stringify({ current: 'local', profiles: { local: { endpoint: e.local.apiUrl } } }));
    const example = join(__dirname, '..', '..', 'examples', 'local', 'stackjobs.yaml');
    const shared = await cli(['list', '--limit', '1'], { auth: false, env: { HOME: home, STACKJOBS_CONFIG: example, STACKJOBS_TOKEN: TOKENS.operator } });
    expect(shared.code).toBe(0);
    expect(shared.stdout).toMatch(/^JOB {2}PHASE\/RESULT/);
    expect(shared.stderr).toBe(
      `stackjobs: note: ignoring STACKJOBS_CONFIG (${example}): it is a local mode config, not CLI profiles; profiles come from STACKJOBS_PROFILES or ${profiles}\n`,
    );

    const legacy = await cli(['list', '--limit', '1'], { auth: false, env: { STACKJOBS_CONFIG: profiles, STACKJOBS_TOKEN: TOKENS.operator } });
    expect(legacy.code).toBe(0);
    expect(legacy.stderr).toContain(
      `note: reading profiles from STACKJOBS_CONFIG (${profiles}); local mode reads that variable as its config, so set STACKJOBS_PROFILES instead`,
    );
  });

  it("says why a profile's tokenCommand gave no token: a command not found, or one killed by a signal", async () => {
    const killed = join(dir, 'killed-token-helper.sh');
    writeFileSync(killed, '#!/bin/sh\nkill -TERM $$\n');
    chmodSync(killed, 0o755);
    const profiles = join(dir, 'token-commands.yaml');
    writeFileSync(
      profiles,
      stringify({
        profiles: {
          missing: { endpoint: e.local.apiUrl, tokenCommand: 'stackjobs-no-such-sso-helper print-token' },
          killed: { endpoint: e.local.apiUrl, tokenCommand: killed },
        },
      }),
    );
    const missing = await cli(['--profile', 'missing', 'list'], { auth: false, env: { STACKJOBS_PROFILES: profiles } });
    expect([missing.code, missing.stderr]).toEqual([
      2,
      expect.stringContaining("the profile's tokenCommand (stackjobs-no-such-sso-helper) was not found (ENOENT"),
    ]);
    const signalled = await cli(['--profile', 'killed', 'list'], { auth: false, env: { STACKJOBS_PROFILES: profiles } });
    expect([signalled.code, signalled.stderr]).toEqual([2, expect.stringContaining(`the profile's tokenCommand (${killed}) was killed by SIGTERM`)]);
    expect(missing.stderr + signalled.stderr).not.toContain('exit null');
  });

  it('hints name the CLI as it was run: `npx --no -- stackjobs …` under npx or npm, else `stackjobs …`', async () => {
    const run = await cli(['submit', '--wait', '-f', file(bucketChange('cli_hint_form', 'v1', { env: 'production' }))], { env: VIA_NPX });
    const id = jobIdIn(run.stdout);
    expect(run.stdout).toContain(`runs  npx --no -- stackjobs approve ${id}  (or reject)`);
    const followed = await cli(['logs', id, '--follow'], { env: VIA_NPX });
    expect(followed.stderr).toContain(`(npx --no -- stackjobs plan ${id}; npx --no -- stackjobs approve ${id})`);
    expect((await cli(['get', id], { env: VIA_NPX })).stdout).toContain(`(npx --no -- stackjobs plan ${id})`);
    // Run otherwise (a link on the PATH): the bare name.
    expect((await cli(['get', id])).stdout).toMatch(new RegExp(`\\(stackjobs plan ${id}\\)`));
  });

  it('says what to do: an unreachable endpoint names the URL and the setting, a missing token where the example tokens are, a 403 the role', async () => {
    const unreachable = await runCli(['--endpoint', 'http://127.0.0.1:9', 'list'], {
      stdout: { write: () => true } as never,
      stderr: { write: (s: string) => ((captured += s), true) } as never,
      env: {},
      fetchImpl: e.fetch,
    });
    expect(unreachable).toBe(1);
    expect(captured).toContain('cannot reach the Stack Jobs API at http://127.0.0.1:9');
    expect(captured).toContain('--endpoint or STACKJOBS_ENDPOINT');
    expect(captured).toContain('npm run local');

    const noToken = await cli(['--endpoint', e.local.apiUrl, 'list'], { auth: false });
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain('pass --token or set STACKJOBS_TOKEN');
    expect(noToken.stderr).toContain('examples/local/stackjobs.yaml');

    const id = jobIdIn((await cli(['submit', '--wait', '-f', file(bucketChange('cli_403', 'v1', { env: 'production' }))])).stdout);
    const forbidden = await cli(['approve', id]);
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toMatch(/403 .*approver/);
  });

  it('catalog apply refused part-way names what it wrote and what it did not, and the token that may write the rest', async () => {
    const policy = { previewBeforeUpdate: true, pauseBetweenPreviewAndUpdate: true, skipRefresh: false };
    const catalog = file({
      catalog: {
        'flow-control-policies': [
          { id: 'cli-partial-env', selector: { level: 'environment', org: 'acmecorp', env: 'cli-partial' }, ...policy },
          { id: 'cli-partial-platform', selector: { level: 'platform' }, ...policy },
        ],
      },
    });
    const run = await cli(['catalog', 'apply', '-f', catalog], { token: TOKENS.admin });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^stackjobs: 403 /);
    expect(run.stderr).toContain('local-platform-admin-token (platform admin');
    expect(run.stderr).toContain('written before it (1): flow-control-policies/cli-partial-env (created)');
    expect(run.stderr).toContain('not written (1): flow-control-policies/cli-partial-platform');
  });

  it('says "required" for a missing field', async () => {
    const change = bucketChange('cli_required', 'v1') as Record<string, unknown>;
    delete change.triggerEvent;
    const run = await cli(['preflight', '-f', file(change)]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('triggerEvent: required');
  });
});

let captured = '';

describe('the README', () => {
  /** How the README runs the CLI: npx that never installs (test/unit/npx-fail-safe.test.ts), `--` before the command. */
  const README_FORM = ['npx', '--no', '--', 'stackjobs'];

  /** The sh block of "The `stackjobs` CLI": each command, with its variables (exported, or prefixed to it). */
  function readmeCommands(): Array<{ env: Record<string, string>; args: string[] }> {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### The `stackjobs` CLI'));
    const block = /```sh\n([\s\S]*?)```/.exec(section)![1];
    const exported: Record<string, string> = {};
    const commands: Array<{ env: Record<string, string>; args: string[] }> = [];
    for (const raw of block.split('\n')) {
      const line = raw.replace(/\s+#.*$/, '').trim();
      if (!line) continue;
      const words = (line.match(/"[^"]*"|\S+/g) ?? []).map((w) => w.replace(/^"|"$/g, ''));
      if (words[0] === 'export') {
        const [k, v] = words[1].split('=');
        exported[k] = v;
        continue;
      }
      const env: Record<string, string> = { ...exported };
      while (/^[A-Z_]+=/.test(words[0])) {
        const [k, v] = words.shift()!.split('=');
        env[k] = v;
      }
      expect(words.slice(0, README_FORM.length)).toEqual(README_FORM);
      commands.push({ env, args: words.slice(README_FORM.length) });
    }
    return commands;
  }

  it('runs every CLI example as written, in order, against local mode with the example config', async () => {
    const commands = readmeCommands();
    expect(commands.length).toBeGreaterThanOrEqual(10);
    const ids: Record<string, string> = {};
    for (const c of commands) {
      const args = c.args.map((a) => (a === '<id>' || a === '<rerun-id>' ? ids[a] : a));
      expect(args.every((a) => a !== undefined)).toBe(true);
      // The data directory of the local mode the examples talk to, as `npm run local` would have it.
      const run = await cli(['--endpoint', e.local.apiUrl, ...args], { auth: false, env: { ...c.env, STACKJOBS_DATA_DIR: e.local.dataDir } });
      if (run.code !== 0) throw new Error(`README: ${README_FORM.join(' ')} ${c.args.join(' ')} exited ${run.code}\n${run.stdout}\n${run.stderr}`);
      if (c.args[0] === 'submit') ids['<id>'] = jobIdIn(run.stdout);
      if (c.args[0] === 'rerun') ids['<rerun-id>'] = /rerun of sj_\w+: (sj_\w+)/.exec(run.stdout)![1];
      // At a person's pace: reading the output takes longer than a job's next step here, so each command finds the
      // jobs before it done or waiting for someone (a command that works only right after the previous one fails).
      for (const id of Object.values(ids)) await e.waitFor(id, awaiting);
    }
    expect(Object.keys(ids).sort()).toEqual(['<id>', '<rerun-id>']);
  });
});
