/**
 * The `stackjobs` command: drives the API, local or deployed.
 * Exit codes: 0 success, 1 job failed or cancelled (or the API refused), 2 usage error, 3 pre-flight failed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { parse } from 'yaml';
import { cancelCaseOf } from '../lambdas/approvals/approval-rules';
import type { PlanChanges } from '../lambdas/domain/plan-changes';
import type { PlanSummary, PolicyEvaluation, StackJob } from '../lambdas/domain/schemas';
import { catalogEntries, localConfigSchema } from '../local/config';
import { ApiClient, ApiError, UnreachableError } from './api-client';
import { completionScript, SHELLS } from './completion';
import { cliCommand } from './invocation';
import { loadProfile, ProfileError, tokenOf } from './profiles';
import { followJob, lineView, terminalView } from './progress';
import { outcomeLine, paintFor, renderDrift, renderPlanChanges, renderPolicyResults, summaryLine, type DriftView } from './render';

export const EXIT = { ok: 0, jobFailed: 1, usage: 2, preflightFailed: 3 } as const;

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  fetchImpl?: typeof fetch;
}

class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

function readDocument(file: string): unknown {
  try {
    const text = readFileSync(file, 'utf8');
    return parse(text);
  } catch (e) {
    throw new CommanderError(EXIT.usage, 'stackjobs.file', `cannot read ${file}: ${(e as Error).message}`);
  }
}

const jobExit = (job: StackJob) => (job.status.phase !== 'completed' || ['succeeded', 'skipped'].includes(job.status.result) ? EXIT.ok : EXIT.jobFailed);

/** Lines an error's printer adds after the error (what a command had already done when it failed). */
const NOTES = new WeakMap<Error, string[]>();

const DEFAULT_ENDPOINT = 'http://127.0.0.1:8787';
const VERSION = (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
/** Where the example tokens are, for a user of local mode who has none or the wrong one: every role's, so a 403 names the one it needs. */
const LOCAL_TOKENS_HINT =
  'local mode takes the example tokens in examples/local/stackjobs.yaml: local-operator-token (operator), local-approver-token and local-approver2-token (approvers), local-admin-token (org admin), local-platform-admin-token (platform admin: platform modules and policies, as catalog apply of that file writes)';
const isLoopback = (url: string) => /^https?:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(\/|$)/.test(url);

type PlanChangesView = PlanChanges & { jobId: string; digest: string; summary: PlanSummary; policy?: PolicyEvaluation };

export function buildProgram(io: CliIo): Command {
  /** How every hint names the CLI: the way it was run (cli/invocation.ts). */
  const cmd = cliCommand(io.env);
  const program = new Command('stackjobs')
    .description('Submit, follow, approve and inspect stack jobs')
    .version(VERSION, '--version', 'print the version')
    .addOption(new Option('--endpoint <url>', `API URL (env STACKJOBS_ENDPOINT; default ${DEFAULT_ENDPOINT}, local mode)`))
    .addOption(new Option('--token <token>', 'bearer token (env STACKJOBS_TOKEN)'))
    .addOption(new Option('--profile <name>', 'a named profile (endpoint and token) from the config file (env STACKJOBS_PROFILE)'))
    .addOption(new Option('-o, --output <format>', 'text or json').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      '\nProfiles: ~/.config/stackjobs/config.yaml (or $STACKJOBS_PROFILES; $STACKJOBS_CONFIG is local mode\'s config), e.g.\n  current: local\n  profiles:\n    local: { endpoint: http://127.0.0.1:8787, token: local-operator-token }\n    prod: { endpoint: https://…, tokenCommand: "my-sso print-token" }\n' +
        'A flag wins over its variable (STACKJOBS_ENDPOINT, STACKJOBS_TOKEN), which wins over the profile.',
    )
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });

  const opts = () => program.opts<{ endpoint?: string; token?: string; profile?: string; output: 'text' | 'json' }>();
  let resolved: { endpoint: string; token?: string } | undefined;
  const connection = () => {
    if (resolved) return resolved;
    // A flag, then its variable (from the environment the CLI was given), then the profile, then the default.
    const o = opts();
    const endpoint = o.endpoint ?? io.env.STACKJOBS_ENDPOINT;
    const token = o.token ?? io.env.STACKJOBS_TOKEN;
    const named = o.profile ?? io.env.STACKJOBS_PROFILE;
    const profile =
      endpoint === undefined || token === undefined || named ? loadProfile(io.env, named, (line) => io.stderr.write(`stackjobs: note: ${line}\n`)) : undefined;
    resolved = { endpoint: endpoint ?? profile?.endpoint ?? DEFAULT_ENDPOINT, token: token ?? tokenOf(profile) };
    return resolved;
  };
  const client = () => new ApiClient({ ...connection(), fetchImpl: io.fetchImpl });
  const json = () => opts().output === 'json';
  const paint = () => paintFor(io.stdout, io.env);
  const print = (value: unknown, text: () => string) => io.stdout.write(json() ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
  const view = () => (json() ? undefined : io.stdout.isTTY ? terminalView(io.stdout as NodeJS.WriteStream) : lineView(io.stdout));
  const planChanges = (id: string) =>
    client()
      .request<PlanChangesView>('GET', `/v1/stack-jobs/${encodeURIComponent(id)}/plan/changes`)
      .then((r) => r.body);
  /** Before an approval, the plan as the approver will read it (text output only). */
  const showPlanForApproval = async (job: StackJob) => {
    if (json() || job.status.phase !== 'awaiting_approval') return;
    try {
      io.stdout.write(`\n${renderPlanChanges(await planChanges(job.metadata.id), paint())}\n\n`);
    } catch (e) {
      io.stdout.write(`(the plan could not be read: ${(e as Error).message})\n`);
    }
    io.stdout.write(
      `awaiting approval: someone with the approver role in ${job.metadata.org} runs  ${cmd} approve ${job.metadata.id}  (or reject)${isLoopback(connection().endpoint) ? ' — in local mode: --token local-approver-token' : ''}\n`,
    );
  };
  /** After a decision or a cancel: follow the job like submit --wait. */
  const followAfter = async (id: string, wait: boolean | undefined, stopAtApproval = false) => {
    if (!wait) return;
    const job = await followJob(client(), id, { stopAtApproval, view: view(), logs: true });
    if (json()) print(job, () => '');
    await showPlanForApproval(job);
    throw new ExitCode(jobExit(job));
  };
  const checksText = (checks: { check: string; passed: boolean; messages: string[] }[]) =>
    checks.map((c) => `${c.passed ? 'pass' : 'FAIL'}  ${c.check}: ${c.messages.join('; ')}`).join('\n');

  program
    .command('preflight')
    .description('run the pre-flight checks for a change without creating a job')
    .requiredOption('-f, --file <file>', 'the change (YAML or JSON)')
    .action(async (o: { file: string }) => {
      const { body } = await client().request<{ passed: boolean; checks: { check: string; passed: boolean; messages: string[] }[] }>(
        'POST',
        '/v1/preflight',
        readDocument(o.file),
      );
      print(body, () => checksText(body.checks));
      if (!body.passed) throw new ExitCode(EXIT.preflightFailed);
    });

  program
    .command('submit')
    .description('submit a change; --wait follows it until it completes or waits for approval')
    .requiredOption('-f, --file <file>', 'the change (YAML or JSON)')
    .option('--wait', 'follow the job')
    .action(async (o: { file: string; wait?: boolean }) => {
      const { status, body } = await client().request<StackJob>('POST', '/v1/stack-jobs', readDocument(o.file));
      if (!o.wait) {
        print(body, () => `${status === 201 ? 'created' : 'existing'} ${body.metadata.id}  ${body.status.phase}/${body.status.result}`);
        return;
      }
      if (!json()) io.stdout.write(`${status === 201 ? 'created' : 'existing'} ${body.metadata.id}\n`);
      const job = await followJob(client(), body.metadata.id, { stopAtApproval: true, view: view() });
      if (json()) print(job, () => '');
      await showPlanForApproval(job);
      throw new ExitCode(jobExit(job));
    });

  program
    .command('plan <id>')
    .description('show the plan a job made: each resource, its action and the attributes that change, outputs, drift')
    .action(async (id: string) => {
      const plan = await planChanges(id);
      print(plan, () => renderPlanChanges(plan, paint()));
    });

  program
    .command('get <id>')
    .description('show a job')
    .action(async (id: string) => {
      const job = await client().getJob(id);
      // Who holds the stack, for a job waiting in the queue.
      const holder =
        job.status.phase === 'queued'
          ? await client()
              .request<{ lease?: { holder: string; since?: string } }>(
                'GET',
                `/v1/orgs/${encodeURIComponent(job.metadata.org)}/envs/${encodeURIComponent(job.metadata.env)}/resources/${encodeURIComponent(job.spec.apiResourceInfo.id)}`,
              )
              .then(
                (r) => r.body.lease,
                () => undefined,
              )
          : undefined;
      print(job, () => describeJobFully(job, cmd, holder));
    });

  program
    .command('list')
    .description('list jobs, newest first')
    .option('--org <org>')
    .option('--env <env>')
    .option('--resource <id>')
    .option('--phase <phase>')
    .option('--result <result>', 'succeeded, failed, cancelled, skipped or tbd')
    .option('--limit <n>', 'page size', '20')
    .option('--cursor <cursor>', 'the next page (printed at the end of a page when more jobs follow)')
    .action(async (o: { org?: string; env?: string; resource?: string; phase?: string; result?: string; limit: string; cursor?: string }) => {
      const page = (cursor: string | undefined) => {
        const q = new URLSearchParams(
          Object.entries({ org: o.org, env: o.env, resourceId: o.resource, phase: o.phase, result: o.result, limit: o.limit, cursor }).filter(
            (e): e is [string, string] => e[1] !== undefined,
          ),
        );
        return client()
          .request<{ items: StackJob[]; cursor?: string }>('GET', `/v1/stack-jobs?${q}`)
          .then((r) => r.body);
      };
      const body = await page(o.cursor);
      // The API gives a cursor only when a next page has a job to show (JobRepository.list).
      const more = body.cursor !== undefined;
      print(body, () => {
        const rows = body.items.map((j) => listRow(j));
        const next = more
          ? `\nmore: ${cmd} list ${[...Object.entries({ org: o.org, env: o.env, resource: o.resource, phase: o.phase, result: o.result }).flatMap(([k, v]) => (v ? [`--${k}`, v] : [])), '--limit', o.limit, '--cursor', body.cursor].join(' ')}`
          : '';
        return (rows.length ? [LIST_HEADER, ...rows].join('\n') : '(no jobs)') + next;
      });
    });

  program
    .command('logs <id>')
    .description("print a job's logs; --follow keeps reading until the job completes")
    .option('--follow', 'follow a running job')
    .option('--phase <phase>')
    .option('--operation <op>')
    .action(async (id: string, o: { follow?: boolean; phase?: string; operation?: string }) => {
      let cursor: string | undefined;
      const texts: string[] = [];
      let phase = '';
      for (;;) {
        const q = new URLSearchParams(
          Object.entries({ phase: o.phase, operation: o.operation, cursor }).filter((e): e is [string, string] => e[1] !== undefined),
        );
        const { body } = await client().request<{ text: string; cursor?: string; phase: string }>('GET', `/v1/stack-jobs/${encodeURIComponent(id)}/logs?${q}`);
        if (json()) texts.push(body.text);
        else io.stdout.write(body.text);
        cursor = body.cursor ?? cursor;
        phase = body.phase;
        // Nothing more comes while the job waits for a person: stop and say so rather than wait silently.
        if (!o.follow || ((body.phase === 'completed' || body.phase === 'awaiting_approval') && body.text === '')) break;
        if (body.text === '') await new Promise((r) => setTimeout(r, 1000));
      }
      if (json()) print({ jobId: id, text: texts.join('') }, () => '');
      if (!o.follow) return;
      const job = await client().getJob(id);
      if (!json())
        io.stderr.write(
          `${phase === 'awaiting_approval' ? `stopped following: the job is awaiting approval (${cmd} plan ${id}; ${cmd} approve ${id})` : outcomeLine(job)}\n`,
        );
      throw new ExitCode(jobExit(job));
    });

  program
    .command('outputs <id>')
    .description("print a job's outputs (sensitive values masked)")
    .action(async (id: string) => {
      const { body } = await client().request<{ outputs: Record<string, { value: unknown; sensitive: boolean }> }>(
        'GET',
        `/v1/stack-jobs/${encodeURIComponent(id)}/outputs`,
      );
      print(body, () =>
        Object.entries(body.outputs)
          .map(([k, v]) => `${k} = ${JSON.stringify(v.value)}`)
          .join('\n'),
      );
    });

  for (const decision of ['approve', 'reject'] as const) {
    program
      .command(`${decision} <id>`)
      .description(`${decision} the plan a job is waiting on`)
      .option('--comment <text>')
      .option('--wait', 'follow the job until it completes')
      .action(async (id: string, o: { comment?: string; wait?: boolean }) => {
        const { body } = await client().request<StackJob>(
          'POST',
          `/v1/stack-jobs/${encodeURIComponent(id)}/${decision}`,
          o.comment ? { comment: o.comment } : {},
        );
        // Short of a plan policy's quorum: recorded, and the job waits for another approver (nothing to follow yet).
        const approval = body.status.approval;
        const pending = decision === 'approve' && approval?.required !== undefined && !approval.decision;
        const said = `${decision === 'approve' ? 'approved' : 'rejected'} ${id}${pending ? ` (${approval.approvals?.length ?? 0} of ${approval.required} approvals; waiting for another approver)` : ''}`;
        if (!o.wait || json() || pending) print(body, () => said);
        else io.stdout.write(`${said}\n`);
        if (!pending) await followAfter(id, o.wait);
      });
  }

  program
    .command('cancel <id>')
    .description('cancel a job (an update that already runs finishes first)')
    .option('--wait', 'follow the job until it has ended')
    .action(async (id: string, o: { wait?: boolean }) => {
      const { status, body } = await client().request<StackJob>('POST', `/v1/stack-jobs/${encodeURIComponent(id)}/cancel`, {});
      print(body, () => cancelAnswer(status, body));
      if (!o.wait || body.status.phase === 'completed') return;
      // The cancel did its part unless the job failed (a running update finishes first, and may succeed).
      const job = await followJob(client(), id, { view: view(), logs: true });
      if (json()) print(job, () => '');
      throw new ExitCode(job.status.result === 'failed' ? EXIT.jobFailed : EXIT.ok);
    });

  program
    .command('force-cancel <id>')
    .description('end a job in any phase and free its stack (org admins; the reason is recorded)')
    .requiredOption('--reason <text>', 'why (recorded on the job)')
    .action(async (id: string, o: { reason: string }) => {
      const { body } = await client().request<StackJob>('POST', `/v1/stack-jobs/${encodeURIComponent(id)}/force-cancel`, { reason: o.reason });
      print(body, () => outcomeLine(body));
    });

  program
    .command('rerun <id>')
    .description('run a job again for the same resource version (pre-flight runs again)')
    .option('--wait', 'follow the new job until it completes or waits for approval')
    .action(async (id: string, o: { wait?: boolean }) => {
      const { body } = await client().request<StackJob>('POST', `/v1/stack-jobs/${encodeURIComponent(id)}/rerun`, {});
      if (!o.wait || json()) print(body, () => `rerun of ${id}: ${body.metadata.id}`);
      else io.stdout.write(`rerun of ${id}: ${body.metadata.id}\n`);
      await followAfter(body.metadata.id, o.wait, true);
    });

  const drift = program.command('drift').description('check a resource for drift now, or show what the last check found');
  drift
    .command('check <target>')
    .description('start a drift check of <org>/<env>/<resource> (init and a refresh-only plan, never an apply); --wait follows it and prints the drift')
    .option('--wait', 'follow the check until it completes, then print what drifted')
    .action(async (target: string, o: { wait?: boolean }) => {
      const { body } = await client().request<StackJob>('POST', `${resourcePath(target)}/drift-checks`);
      const id = body.metadata.id;
      if (!o.wait) {
        print(
          body,
          () => `drift check ${id} of ${target} started: ${body.status.phase}/${body.status.result}  (${cmd} drift check ${target} --wait follows one)`,
        );
        return;
      }
      if (!json()) io.stdout.write(`drift check ${id} of ${target} started\n`);
      const job = await followJob(client(), id, { view: view() });
      // The resource's status is written just after the job's ending: wait for it (briefly), so that a `drift status`
      // right after this command shows this check.
      for (let i = 0; i < 50 && job.status.drift; i++) {
        const { body: resource } = await client().request<{ drift?: DriftView }>('GET', resourcePath(target));
        if (resource.drift && resource.drift.jobId >= id) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const found = job.status.drift;
      const report: DriftView | undefined = found && { ...found, jobId: id, drifted: found.total > 0 };
      print({ job, drift: report ?? null }, () => (report ? renderDrift(report, paint()) : `the check recorded no drift report (${outcomeLine(job)})`));
      throw new ExitCode(jobExit(job));
    });
  drift
    .command('status <target>')
    .description('what the last drift check (or change) of <org>/<env>/<resource> found changed outside Stack Jobs')
    .action(async (target: string) => {
      const { body } = await client().request<{ org: string; env: string; resourceId: string; drift?: DriftView }>('GET', resourcePath(target));
      const out = { org: body.org, env: body.env, resourceId: body.resourceId, drift: body.drift ?? null };
      print(out, () => (body.drift ? renderDrift(body.drift, paint()) : `no drift check has looked at ${target} yet (${cmd} drift check ${target})`));
    });

  program
    .command('policy')
    .description('plan policies')
    .command('test')
    .description(
      'evaluate plan policies on a plan document (terraform/tofu show -json, pulumi preview --json) without submitting anything; exits 1 when the plan would be denied or a rule cannot be evaluated',
    )
    .requiredOption('-f, --file <file>', 'the policy, or a list of policies (YAML or JSON), as PUT would take it')
    .requiredOption('--plan <file>', 'the plan document (JSON)')
    .option('--org <org>', "the job's org (default: the policy's)")
    .option('--env <env>', "the job's environment (default: the policy selector's)")
    .option('--resource <id>', "the job's resource id")
    .option('--kind <kind>', "the job's resource kind")
    .option('--trigger <event>', 'created, updated or deleted', 'updated')
    .option('--created-by <who>', 'who made the change')
    .action(async (o: { file: string; plan: string; org?: string; env?: string; resource?: string; kind?: string; trigger: string; createdBy?: string }) => {
      const doc = readDocument(o.file);
      const policies = (Array.isArray(doc) ? doc : [doc]) as Array<{ org?: unknown; selector?: { org?: unknown; env?: unknown } }>;
      const first = policies[0] ?? {};
      const org = o.org ?? (typeof first.org === 'string' ? first.org : typeof first.selector?.org === 'string' ? first.selector.org : undefined);
      const env = o.env ?? (typeof first.selector?.env === 'string' ? first.selector.env : undefined);
      if (!org || !env) {
        const missing = [org ? undefined : '--org', env ? undefined : '--env'].filter(Boolean).join(' and ');
        throw new CommanderError(EXIT.usage, 'stackjobs.policy', `name the job's ${missing} (the policy does not say)`);
      }
      const job = {
        org,
        env,
        ...(o.resource ? { resourceId: o.resource } : {}),
        ...(o.kind ? { kind: o.kind } : {}),
        triggerEvent: o.trigger,
        ...(o.createdBy ? { createdBy: o.createdBy } : {}),
      };
      const { body } = await client().request<{ outcome: PolicyEvaluation['outcome']; requiredApprovals?: number; results: PolicyEvaluation['results'] }>(
        'POST',
        '/v1/policy-checks',
        { plan: readDocument(o.plan), job, policies },
      );
      print(body, () => renderPolicyResults(body, paint()));
      if (body.outcome === 'denied' || body.outcome === 'failed') throw new ExitCode(EXIT.jobFailed);
    });

  program
    .command('completion <shell>')
    .description(`print a shell completion script (${SHELLS.join(', ')}); e.g. source <(${cmd} completion bash)`)
    .action((shell: string) => {
      if (!(SHELLS as readonly string[]).includes(shell))
        throw new CommanderError(EXIT.usage, 'stackjobs.completion', `no completion for ${shell}: choose ${SHELLS.join(', ')}`);
      io.stdout.write(completionScript(shell as (typeof SHELLS)[number], program));
    });

  program
    .command('catalog')
    .description('manage the catalog')
    .command('apply')
    .description('create or replace every entity in a catalog file (the `catalog` shape of the local config)')
    .requiredOption('-f, --file <file>')
    .option(
      '--data-dir <dir>',
      "local mode's data directory, for files that use {dataDir} (default: STACKJOBS_DATA_DIR, or ./.stackjobs when local mode runs there)",
    )
    .action(async (o: { file: string; dataDir?: string }) => {
      const doc = readDocument(o.file) as { catalog?: unknown };
      let catalog = JSON.stringify(doc?.catalog ?? doc);
      if (catalog.includes('{dataDir}')) {
        const dataDir = o.dataDir ?? io.env.STACKJOBS_DATA_DIR ?? runningLocalDataDir(connection().endpoint);
        if (!dataDir) {
          throw new CommanderError(
            EXIT.usage,
            'stackjobs.catalog',
            'the file uses {dataDir}, which names a local mode data directory: pass --data-dir (or set STACKJOBS_DATA_DIR), or write the real paths before applying it to a deployed API',
          );
        }
        catalog = catalog.replaceAll('{dataDir}', resolve(dataDir).replaceAll('\\', '\\\\').replaceAll('"', '\\"'));
      }
      const parsed = localConfigSchema.safeParse({ catalog: JSON.parse(catalog) as unknown });
      if (!parsed.success)
        throw new CommanderError(
          EXIT.usage,
          'stackjobs.catalog',
          `invalid catalog file: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
        );
      const applied: { kind: string; id: string; status: number }[] = [];
      const entries = catalogEntries(parsed.data);
      for (const [i, e] of entries.entries()) {
        const path =
          e.owner === '_platform'
            ? `/v1/platform/${e.kind}/${encodeURIComponent(e.id)}`
            : `/v1/orgs/${encodeURIComponent(e.owner)}/${e.kind}/${encodeURIComponent(e.id)}`;
        try {
          const { status } = await client().request('PUT', path, e.entity);
          applied.push({ kind: e.kind, id: e.id, status });
        } catch (err) {
          // One PUT at a time, and nothing undoes the ones before: say which entries are now in the catalog and which
          // are not, so a rerun with the right token is known to be safe (each PUT replaces) and nobody assumes all or none.
          const name = (x: { kind: string; id: string }) => `${x.kind}/${x.id}`;
          const rest = entries.slice(i).map(name);
          NOTES.set(err as Error, [
            applied.length
              ? `written before it (${applied.length}): ${applied.map((a) => `${name(a)} (${a.status === 201 ? 'created' : 'replaced'})`).join(', ')}`
              : 'nothing was written before it',
            `not written (${rest.length}): ${rest.join(', ')}; catalog apply can run again: each entry is replaced`,
          ]);
          throw err;
        }
      }
      print({ applied }, () => applied.map((a) => `${a.status === 201 ? 'created ' : 'replaced'} ${a.kind}/${a.id}`).join('\n'));
    });

  return program;
}

/** Runs the CLI and returns its exit code (never calls process.exit, so tests can drive it). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (e) {
    if (e instanceof ExitCode) return e.code;
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return EXIT.ok;
      if (e.exitCode === EXIT.usage && !e.code.startsWith('commander.')) io.stderr.write(`stackjobs: ${e.message}\n`);
      return EXIT.usage;
    }
    if (e instanceof ApiError) {
      const json = program.opts<{ output: string }>().output === 'json';
      const hint = hintFor(e, program.opts<{ token?: string }>().token !== undefined || Boolean(io.env.STACKJOBS_TOKEN), endpointOf(program, io.env));
      const notes = NOTES.get(e) ?? [];
      if (json)
        io.stdout.write(`${JSON.stringify({ status: e.status, ...e.problem, ...(hint ? { hint } : {}), ...(notes.length ? { notes } : {}) }, null, 2)}\n`);
      else {
        io.stderr.write(`stackjobs: ${e.status} ${e.problem.title ?? ''}: ${e.message}\n`);
        for (const f of e.problem.errors ?? []) io.stderr.write(`  ${f.path}: ${f.message}\n`);
        for (const c of e.problem.checks ?? []) io.stderr.write(`  ${c.passed ? 'pass' : 'FAIL'}  ${c.check}: ${c.messages.join('; ')}\n`);
        if (hint) io.stderr.write(`  hint: ${hint}\n`);
        for (const n of notes) io.stderr.write(`  ${n}\n`);
      }
      return e.status === 422 ? EXIT.preflightFailed : e.status === 400 ? EXIT.usage : EXIT.jobFailed;
    }
    if (e instanceof UnreachableError) {
      io.stderr.write(
        `stackjobs: ${e.message}\n  hint: ${isLoopback(e.endpoint) ? 'start local mode (npm run local), or ' : ''}set the API's URL with --endpoint or STACKJOBS_ENDPOINT (or a profile: ${cliCommand(io.env)} --help)\n`,
      );
      for (const n of NOTES.get(e) ?? []) io.stderr.write(`  ${n}\n`);
      return EXIT.jobFailed;
    }
    if (e instanceof ProfileError) {
      io.stderr.write(`stackjobs: ${e.message}\n`);
      return EXIT.usage;
    }
    io.stderr.write(`stackjobs: ${(e as Error).message}\n`);
    for (const n of NOTES.get(e as Error) ?? []) io.stderr.write(`  ${n}\n`);
    return EXIT.jobFailed;
  }
}

/**
 * A reader that stops early (`stackjobs help | head -5`) closes the pipe, and the next write fails with EPIPE: an error
 * event nobody handles, which Node prints as a stack trace. Nobody reads on, so the CLI stops without a word, as git
 * and gh do, with status 0. Other stream errors stay unhandled.
 */
export function exitQuietlyOnClosedPipe(...streams: NodeJS.WritableStream[]): void {
  for (const stream of streams)
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
      process.exit(EXIT.ok);
    });
}

if (require.main === module) {
  exitQuietlyOnClosedPipe(process.stdout, process.stderr);
  void runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then((code) => {
    process.exitCode = code;
  });
}

const LIST_HEADER = ['JOB', 'PHASE/RESULT', 'REASON', 'ENV/RESOURCE', 'VERSION', 'PLAN', 'UPDATED'].join('  ');

function planCounts(job: StackJob): string {
  const p = job.status.plan?.summary;
  return p ? `+${p.add} ~${p.change} -${p.destroy} ±${p.replace}` : '-';
}

/** One job per line with the columns `get` shows first. */
function listRow(j: StackJob): string {
  const s = j.status;
  const queue = s.phase === 'queued' && s.queuePosition !== undefined ? `queue ${s.queuePosition}` : undefined;
  return [
    j.metadata.id,
    `${s.phase}/${s.result}`,
    s.reason ?? queue ?? '-',
    `${j.metadata.env}/${j.spec.apiResourceInfo.id}`,
    j.metadata.version.id,
    planCounts(j),
    s.updatedAt,
  ].join('  ');
}

/** `get`: what an operator asks about a job, in the order they ask it (`cmd`: how the plan hint names the CLI). */
function describeJobFully(job: StackJob, cmd: string, holder?: { holder: string; since?: string }): string {
  const s = job.status;
  const lines = [
    `${outcomeLine(job)}`,
    `  resource   ${job.spec.apiResourceInfo.kind}/${job.spec.apiResourceInfo.name} (${job.spec.apiResourceInfo.id}) in ${job.metadata.org}/${job.metadata.env}, version ${job.metadata.version.id}`,
  ];
  if (s.reason) lines.push(`  reason     ${s.reason}`);
  if (s.phase === 'queued')
    lines.push(
      `  queue      position ${s.queuePosition ?? '?'}${holder ? `; the stack is held by ${holder.holder}${holder.since ? ` since ${holder.since}` : ''}` : ''}`,
    );
  if (s.plan) lines.push(`  plan       ${summaryLine(s.plan.summary)}  (${cmd} plan ${job.metadata.id})`);
  if (s.policy) {
    const held = s.policy.results.filter((r) => !r.passed);
    lines.push(
      `  policy     ${s.policy.outcome}${held.length ? `: ${held.map((r) => `${r.policy}/${r.rule} (${r.error ? 'error' : r.effect})`).join(', ')}` : ''}`,
    );
  }
  const d = s.approval?.decision;
  if (d) lines.push(`  decision   ${d.decision} by ${d.by} at ${d.at} (${d.channel})${d.comment ? `: "${d.comment}"` : ''}`);
  else if (s.approval && s.phase === 'awaiting_approval') lines.push(`  approval   open until ${s.approval.expiresAt}`);
  if (s.failure) lines.push(`  failure    ${s.failure.operation}: ${s.failure.message}`);
  if (s.durations && Object.keys(s.durations).length)
    lines.push(
      `  durations  ${Object.entries(s.durations)
        .map(([k, ms]) => `${k} ${ms < 1000 ? `${ms}ms` : `${(ms / 1000).toFixed(1)}s`}`)
        .join(', ')}`,
    );
  lines.push(...s.operations.map((op) => `  ${op.name.padEnd(10)} ${op.status}/${op.result}${op.errors.length ? `  ${op.errors.join('; ')}` : ''}`));
  return lines.join('\n');
}

/**
 * What a cancel did, from the API's answer (lambdas/api/approval-routes.ts): 200 when the job ended now, 202 when its
 * runner is being stopped or its update goes on. The job's phase alone ("running/tbd") left the caller to guess which.
 */
function cancelAnswer(status: number, job: StackJob): string {
  const id = job.metadata.id;
  if (status !== 202 || job.status.phase === 'completed') return outcomeLine(job);
  if (cancelCaseOf(job) === 'stop_runner') {
    const op = job.status.operations.find((o) => o.status === 'running')?.name;
    return `cancelling ${id}: its preview${op ? ` (${op})` : ''} is being stopped; the job ends cancelled and nothing is applied`;
  }
  // The update (apply or destroy) is never interrupted: a half-applied stack is worse than a finished one.
  const update = job.status.operations.find((o) => (o.name === 'apply' || o.name === 'destroy') && o.status !== 'pending')?.name ?? 'update';
  return `cancel recorded for ${id}: the ${update} is running and will finish (an update is never interrupted); nothing after it runs, and the job ends with reason cancel_requested_during_update`;
}

/** `/v1/orgs/{org}/envs/{env}/resources/{resourceId}` from `<org>/<env>/<resource>`. */
function resourcePath(target: string): string {
  const parts = target.split('/');
  if (parts.length !== 3 || parts.some((p) => p === ''))
    throw new CommanderError(EXIT.usage, 'stackjobs.target', `"${target}" is not <org>/<env>/<resource> (for example acmecorp/production/eks_01jq5x)`);
  const [org, env, resource] = parts.map(encodeURIComponent);
  return `/v1/orgs/${org}/envs/${env}/resources/${resource}`;
}

function endpointOf(program: Command, env: NodeJS.ProcessEnv): string {
  return program.opts<{ endpoint?: string }>().endpoint ?? env.STACKJOBS_ENDPOINT ?? DEFAULT_ENDPOINT;
}

/** What to do about an API refusal, when the answer alone does not say it. */
function hintFor(e: ApiError, hasToken: boolean, endpoint: string): string | undefined {
  const local = isLoopback(endpoint);
  if (e.status === 401)
    return hasToken
      ? `the token was refused (expired, or not for this API)${local ? `; ${LOCAL_TOKENS_HINT}` : ''}`
      : `no token: pass --token or set STACKJOBS_TOKEN (or use a profile)${local ? `; ${LOCAL_TOKENS_HINT}` : ''}`;
  if (e.status === 403 && local) return LOCAL_TOKENS_HINT;
  return undefined;
}

/** The data directory of a local mode running in the current directory (npm run local's default), when the CLI talks to it. */
function runningLocalDataDir(endpoint: string): string | undefined {
  const dir = join(process.cwd(), '.stackjobs');
  return isLoopback(endpoint) && existsSync(join(dir, 'local-mode.pid')) ? dir : undefined;
}
