/**
 * The `stackjobs` command: drives the API, local or deployed.
 * Exit codes: 0 success, 1 job failed or cancelled (or the API refused), 2 usage error, 3 pre-flight failed.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { parse } from 'yaml';
import type { StackJob } from '../lambdas/domain/schemas';
import { catalogEntries, localConfigSchema } from '../local/config';
import { ApiClient, ApiError } from './api-client';
import { followJob, lineView, terminalView } from './progress';

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

export function buildProgram(io: CliIo): Command {
  const program = new Command('stackjobs')
    .description('Submit, follow, approve and inspect stack jobs')
    .addOption(new Option('--endpoint <url>', 'API URL').env('STACKJOBS_ENDPOINT').default('http://127.0.0.1:8787'))
    .addOption(new Option('--token <token>', 'bearer token').env('STACKJOBS_TOKEN'))
    .addOption(new Option('-o, --output <format>', 'text or json').choices(['text', 'json']).default('text'))
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });

  const opts = () => program.opts<{ endpoint: string; token?: string; output: 'text' | 'json' }>();
  const client = () => new ApiClient({ endpoint: opts().endpoint, token: opts().token, fetchImpl: io.fetchImpl });
  const json = () => opts().output === 'json';
  const print = (value: unknown, text: () => string) => io.stdout.write(json() ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
  const view = () => (json() ? undefined : io.stdout.isTTY ? terminalView(io.stdout as NodeJS.WriteStream) : lineView(io.stdout));
  const checksText = (checks: { check: string; passed: boolean; messages: string[] }[]) => checks.map((c) => `${c.passed ? 'pass' : 'FAIL'}  ${c.check}: ${c.messages.join('; ')}`).join('\n');

  program
    .command('preflight')
    .description('run the pre-flight checks for a change without creating a job')
    .requiredOption('-f, --file <file>', 'the change (YAML or JSON)')
    .action(async (o: { file: string }) => {
      const { body } = await client().request<{ passed: boolean; checks: { check: string; passed: boolean; messages: string[] }[] }>('POST', '/v1/preflight', readDocument(o.file));
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
      throw new ExitCode(jobExit(job));
    });

  program
    .command('get <id>')
    .description('show a job')
    .action(async (id: string) => {
      const job = await client().getJob(id);
      print(job, () => `${job.metadata.id}  ${job.status.phase}/${job.status.result}  ${job.spec.apiResourceInfo.kind}/${job.spec.apiResourceInfo.name}  ${job.metadata.env}\n` + job.status.operations.map((op) => `  ${op.name.padEnd(8)} ${op.status}/${op.result}${op.errors.length ? `  ${op.errors.join('; ')}` : ''}`).join('\n'));
    });

  program
    .command('list')
    .description('list jobs, newest first')
    .option('--org <org>')
    .option('--env <env>')
    .option('--resource <id>')
    .option('--phase <phase>')
    .option('--limit <n>', 'page size', '20')
    .action(async (o: { org?: string; env?: string; resource?: string; phase?: string; limit: string }) => {
      const q = new URLSearchParams(Object.entries({ org: o.org, env: o.env, resourceId: o.resource, phase: o.phase, limit: o.limit }).filter((e): e is [string, string] => e[1] !== undefined));
      const { body } = await client().request<{ items: StackJob[]; cursor?: string }>('GET', `/v1/stack-jobs?${q}`);
      print(body, () => body.items.map((j) => `${j.metadata.id}  ${j.status.phase}/${j.status.result}  ${j.metadata.env}/${j.spec.apiResourceInfo.id}  ${j.metadata.version.id}`).join('\n') || '(no jobs)');
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
      for (;;) {
        const q = new URLSearchParams(Object.entries({ phase: o.phase, operation: o.operation, cursor }).filter((e): e is [string, string] => e[1] !== undefined));
        const { body } = await client().request<{ text: string; cursor?: string; phase: string }>('GET', `/v1/stack-jobs/${encodeURIComponent(id)}/logs?${q}`);
        if (json()) texts.push(body.text);
        else io.stdout.write(body.text);
        cursor = body.cursor ?? cursor;
        if (!o.follow || (body.phase === 'completed' && body.text === '')) break;
        if (body.text === '') await new Promise((r) => setTimeout(r, 1000));
      }
      if (json()) print({ jobId: id, text: texts.join('') }, () => '');
    });

  program
    .command('outputs <id>')
    .description("print a job's outputs (sensitive values masked)")
    .action(async (id: string) => {
      const { body } = await client().request<{ outputs: Record<string, { value: unknown; sensitive: boolean }> }>('GET', `/v1/stack-jobs/${encodeURIComponent(id)}/outputs`);
      print(body, () => Object.entries(body.outputs).map(([k, v]) => `${k} = ${JSON.stringify(v.value)}`).join('\n'));
    });

  for (const decision of ['approve', 'reject'] as const) {
    program
      .command(`${decision} <id>`)
      .description(`${decision} the plan a job is waiting on`)
      .option('--comment <text>')
      .action(async (id: string, o: { comment?: string }) => {
        const { body } = await client().request<StackJob>('POST', `/v1/stack-jobs/${encodeURIComponent(id)}/${decision}`, o.comment ? { comment: o.comment } : {});
        print(body, () => `${decision === 'approve' ? 'approved' : 'rejected'} ${id}`);
      });
  }

  program
    .command('cancel <id>')
    .description('cancel a job')
    .action(async (id: string) => {
      const { body } = await client().request<StackJob>('POST', `/v1/stack-jobs/${encodeURIComponent(id)}/cancel`, {});
      print(body, () => `cancellation requested for ${id}: ${body.status.phase}/${body.status.result}`);
    });

  program
    .command('rerun <id>')
    .description('run a job again for the same resource version (pre-flight runs again)')
    .action(async (id: string) => {
      const { body } = await client().request<StackJob>('POST', `/v1/stack-jobs/${encodeURIComponent(id)}/rerun`, {});
      print(body, () => `rerun of ${id}: ${body.metadata.id}`);
    });

  program
    .command('catalog')
    .description('manage the catalog')
    .command('apply')
    .description('create or replace every entity in a catalog file (the `catalog` shape of the local config)')
    .requiredOption('-f, --file <file>')
    .action(async (o: { file: string }) => {
      const doc = readDocument(o.file) as { catalog?: unknown };
      if (JSON.stringify(doc?.catalog ?? doc).includes('{dataDir}')) {
        throw new CommanderError(EXIT.usage, 'stackjobs.catalog', 'the file uses {dataDir}, which only local mode resolves (from STACKJOBS_DATA_DIR): write the real paths before applying it to an API');
      }
      const parsed = localConfigSchema.safeParse({ catalog: doc?.catalog ?? doc });
      if (!parsed.success) throw new CommanderError(EXIT.usage, 'stackjobs.catalog', `invalid catalog file: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      const applied: { kind: string; id: string; status: number }[] = [];
      for (const e of catalogEntries(parsed.data)) {
        const path = e.owner === '_platform' ? `/v1/platform/${e.kind}/${encodeURIComponent(e.id)}` : `/v1/orgs/${encodeURIComponent(e.owner)}/${e.kind}/${encodeURIComponent(e.id)}`;
        const { status } = await client().request('PUT', path, e.entity);
        applied.push({ kind: e.kind, id: e.id, status });
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
      if (json) io.stdout.write(`${JSON.stringify({ status: e.status, ...e.problem }, null, 2)}\n`);
      else {
        io.stderr.write(`stackjobs: ${e.status} ${e.problem.title ?? ''}: ${e.message}\n`);
        for (const f of e.problem.errors ?? []) io.stderr.write(`  ${f.path}: ${f.message}\n`);
        for (const c of e.problem.checks ?? []) io.stderr.write(`  ${c.passed ? 'pass' : 'FAIL'}  ${c.check}: ${c.messages.join('; ')}\n`);
      }
      return e.status === 422 ? EXIT.preflightFailed : e.status === 400 ? EXIT.usage : EXIT.jobFailed;
    }
    io.stderr.write(`stackjobs: ${(e as Error).message}\n`);
    return EXIT.jobFailed;
  }
}

if (require.main === module) {
  void runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then((code) => {
    process.exitCode = code;
  });
}
