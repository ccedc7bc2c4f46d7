/**
 * One local-mode instance for the end-to-end tests: the example config plus a `dev` environment that applies
 * without approval, a provider credential whose secret is planted for leak checks, and the stand-in CLI.
 * Every response is validated against docs/openapi.json.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient, ListTablesCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { parse } from 'yaml';
import { runCli } from '../../cli/stackjobs';
import type { StackJob } from '../../lambdas/domain/schemas';
import { localConfigSchema, type LocalConfig } from '../../local/config';
import { REPO_ROOT, startLocalMode, type LocalMode, type LocalModeOptions } from '../../local/local-mode';
import { openApiValidator } from './openapi-validator';
import { buildStandin } from './standin-iac/build';

export const TOKENS = {
  operator: 'local-operator-token',
  approver: 'local-approver-token',
  admin: 'local-admin-token',
  globex: 'local-globex-token',
  /** A member of acmecorp with no role there (the identity provider lists the org, grants nothing). */
  noRole: 'local-no-role-token',
};
export const PLANTED_SECRET = 'PLANTED-e2e-7f3a9c2e-secret-value';

export function e2eConfig(): LocalConfig {
  const config = localConfigSchema.parse(parse(readFileSync(join(REPO_ROOT, 'examples/local/stackjobs.yaml'), 'utf8')));
  config.principals.push({ token: TOKENS.globex, subject: 'ops@globex.example', orgs: ['globex'], roles: ['operator', 'viewer'] });
  config.principals.push({ token: TOKENS.noRole, subject: 'member@acmecorp.example', orgs: ['acmecorp'], roles: [] });
  config.catalog['flow-control-policies'] = [
    ...(config.catalog['flow-control-policies'] ?? []),
    {
      id: 'dev-no-pause',
      selector: { level: 'environment', org: 'acmecorp', env: 'dev' },
      previewBeforeUpdate: true,
      pauseBetweenPreviewAndUpdate: false,
      skipRefresh: false,
    },
    {
      id: 'sandbox-no-preview',
      selector: { level: 'environment', org: 'acmecorp', env: 'sandbox' },
      previewBeforeUpdate: false,
      pauseBetweenPreviewAndUpdate: false,
      skipRefresh: false,
    },
  ];
  config.catalog.modules = [
    ...(config.catalog.modules ?? []),
    {
      id: 'iacmod_demo_service',
      scope: 'platform',
      resourceKind: 'demo_service',
      provisioner: 'terraform',
      provider: 'demo',
      gitRepo: '{dataDir}/git/demo-bucket.git',
      branch: 'v1.0.0',
      path: '.',
      isDefault: true,
    },
  ];
  config.catalog.modules.push(
    // A module that needs an AWS credential: pre-flight validates it live, against local mode's STS.
    {
      id: 'iacmod_demo_aws',
      scope: 'platform',
      resourceKind: 'demo_aws_bucket',
      provisioner: 'terraform',
      provider: 'aws',
      gitRepo: '{dataDir}/git/demo-bucket.git',
      branch: 'v1.0.0',
      path: '.',
      isDefault: true,
    },
  );
  config.catalog['provider-credentials'] = [
    { id: 'democred_dev', org: 'acmecorp', provider: 'demo', kind: 'demo_credential', environments: ['dev'], secretRef: 'stackjobs/acmecorp/demo-api' },
    { id: 'awscred_dev', org: 'acmecorp', provider: 'aws', kind: 'aws_credential', environments: ['dev'], secretRef: 'stackjobs/acmecorp/demo-credential' },
    { id: 'awscred_stale', org: 'acmecorp', provider: 'aws', kind: 'aws_credential', environments: ['staging'], secretRef: 'stackjobs/acmecorp/unknown-key' },
  ];
  // A key pair stored as a secret that STS does not know (deleted in IAM, say): only the demo key is an IAM user here.
  config.secrets['stackjobs/acmecorp/unknown-key'] = JSON.stringify({ accessKeyId: 'AKIAUNKNOWN00000', secretAccessKey: 'not-a-key-local-sts-knows' });
  config.sts = { accessKeyIds: ['AKIALOCALDEMO'] };
  // The config's Slack users become platform-made links in its workspace.
  config.slack = { ...config.slack, teamId: 'T0LOCAL01', users: { U0LOCALAPPR: 'approver@acmecorp.example' } };
  config.secrets['stackjobs/acmecorp/demo-api'] = JSON.stringify({ DEMO_API_KEY: PLANTED_SECRET });
  return config;
}

export interface E2E {
  local: LocalMode;
  logs: string[];
  bodies: string[];
  call<T = unknown>(
    method: string,
    path: string,
    o?: { token?: string; body?: unknown; query?: Record<string, string> },
  ): Promise<{ status: number; body: T; headers: Headers }>;
  /** A fetch that validates every response against the contract (for the CLI). */
  fetch: typeof fetch;
  waitFor(id: string, until: (job: StackJob) => boolean, timeoutMs?: number): Promise<StackJob>;
  dumpStorage(): Promise<string>;
  stop(): Promise<void>;
}

export interface E2EOptions {
  /** Replaces the stand-in setup of the runner's environment (e.g. STACKJOBS_TERRAFORM_BIN of a real terraform). */
  runnerEnv?: Record<string, string>;
  /** A data directory prepared beforehand (e.g. with more modules published into it). */
  dataDir?: string;
  /** The drift schedules' clock and tick (e.g. a fast clock, so "every minute" runs every second). */
  driftScheduler?: LocalModeOptions['driftScheduler'];
  /** The built web console to serve at `/` (infra/console-build.ts). */
  consoleDir?: string;
  /** Browser origins the API allows (CORS), e.g. a console served from another origin. */
  corsOrigins?: string[];
}

export async function startE2E(config: LocalConfig = e2eConfig(), options: E2EOptions = {}): Promise<E2E> {
  const logs: string[] = [];
  const bodies: string[] = [];
  const local = await startLocalMode({
    config,
    inMemory: true,
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    runnerEnv: options.runnerEnv ?? {
      STACKJOBS_TERRAFORM_BIN: buildStandin(),
      STANDIN_ECHO_ENV: 'DEMO_API_KEY',
      STACKJOBS_LOG_FLUSH_SECONDS: '1',
      STACKJOBS_GRACE_SECONDS: '3',
    },
    timeoutSecondsOverrides: { 'Wait For Stack Lock': 1 },
    ...(options.driftScheduler ? { driftScheduler: options.driftScheduler } : {}),
    ...(options.consoleDir ? { consoleDir: options.consoleDir } : {}),
    ...(options.corsOrigins ? { corsOrigins: options.corsOrigins } : {}),
    log: (l) => logs.push(l),
  });
  const validator = openApiValidator();
  const checkedFetch: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    const text = await res.text();
    bodies.push(text);
    const url = new URL(String(input));
    validator.assert({
      method: (init?.method ?? 'GET').toUpperCase(),
      path: url.pathname,
      query: url.searchParams.size ? Object.fromEntries(url.searchParams) : undefined,
      request: {
        contentType: (init?.headers as Record<string, string> | undefined)?.['content-type'],
        rawBody: typeof init?.body === 'string' ? init.body : undefined,
      },
      response: { statusCode: res.status, headers: Object.fromEntries(res.headers), body: text },
    });
    // A 204 (a DELETE) has no body, and Response refuses one, even empty.
    return new Response(res.status === 204 ? null : text, { status: res.status, headers: res.headers });
  };
  const call: E2E['call'] = async (method, path, o = {}) => {
    const qs = o.query ? `?${new URLSearchParams(o.query)}` : '';
    const res = await checkedFetch(`${local.apiUrl}${path}${qs}`, {
      method,
      headers: { authorization: `Bearer ${o.token ?? TOKENS.operator}`, ...(o.body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: o.body === undefined ? undefined : JSON.stringify(o.body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as never, headers: res.headers };
  };
  const waitFor: E2E['waitFor'] = async (id, until, timeoutMs = 30000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { body } = await call<StackJob>('GET', `/v1/stack-jobs/${id}`);
      if (until(body)) return body;
      if (Date.now() > deadline)
        throw new Error(`job ${id} did not reach the expected state; last ${JSON.stringify(body.status)}\n${logs.slice(-40).join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const dumpStorage = async () => {
    const ddb = new DynamoDBClient({ endpoint: local.dynamoEndpoint, region: 'us-east-1', credentials: local.credentials });
    const tables = (await ddb.send(new ListTablesCommand({}))).TableNames ?? [];
    const items = await Promise.all(tables.map(async (t) => JSON.stringify((await ddb.send(new ScanCommand({ TableName: t }))).Items)));
    ddb.destroy();
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else files.push(readFileSync(p).toString('latin1'));
      }
    };
    walk(join(local.dataDir, 's3'));
    return [...items, ...files].join('\n');
  };
  return { local, logs, bodies, call, fetch: checkedFetch, waitFor, dumpStorage, stop: () => local.stop() };
}

/**
 * A resource's status once `until` holds. The status is written just after the job that changes it ends, so a read
 * right after `waitFor(job, done)` can be early: poll it instead.
 */
export async function waitForResource<T>(e: E2E, path: string, until: (status: T) => boolean, timeoutMs = 15000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status, body } = await e.call<T>('GET', path);
    if (status === 200 && until(body)) return body;
    if (Date.now() > deadline) throw new Error(`${path} did not reach the expected state; last ${status} ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs the stackjobs CLI in-process against local mode's API; returns its exit code and what it printed. */
export async function runCliAgainst(e: E2E, args: string[], token = TOKENS.operator): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(['--endpoint', e.local.apiUrl, '--token', token, ...args], {
    stdout: { write: (s: string) => ((stdout += s), true) } as never,
    stderr: { write: (s: string) => ((stderr += s), true) } as never,
    env: {},
    fetchImpl: e.fetch,
  });
  return { code, stdout, stderr };
}

/** A change to the example bucket module; `env: 'dev'` applies without approval. */
export function bucketChange(
  resourceId: string,
  version: string,
  o: { env?: string; spec?: Record<string, unknown>; kind?: string; trigger?: 'created' | 'updated' | 'deleted' } = {},
) {
  return {
    resource: { id: resourceId, name: `${resourceId}-name`, org: 'acmecorp', env: o.env ?? 'dev', version: { id: version, message: `change ${version}` } },
    kind: o.kind ?? 'demo_bucket',
    spec: o.spec ?? { tier: 'standard' },
    triggerEvent: o.trigger ?? 'created',
    createdBy: 'dev@acmecorp.example',
  };
}

/** The tf-probe fixture (built-in resources only) as a platform module: publishExampleModules puts its repository under the data dir. */
export const TF_PROBE_MODULE = {
  id: 'iacmod_tf_probe',
  scope: 'platform',
  resourceKind: 'tf_probe',
  provisioner: 'terraform',
  gitRepo: '{dataDir}/git/tf-probe.git',
  branch: 'v1.0.0',
  path: '.',
  isDefault: true,
} as const;

/** The runner environment of a local mode that drives the real Terraform. */
export const realTerraformRunnerEnv = (bin: string): Record<string, string> => ({
  STACKJOBS_TERRAFORM_BIN: bin,
  STACKJOBS_LOG_FLUSH_SECONDS: '1',
  STACKJOBS_GRACE_SECONDS: '3',
});

/**
 * Ends the jobs left awaiting approval: an execution parked on its approval task keeps the in-process interpreter (and
 * so the test process) alive after local mode stops. Call it before `e.stop()`.
 */
export async function endJobsAwaitingApproval(e: E2E | undefined): Promise<void> {
  const open = await e?.call<{ items: StackJob[] }>('GET', '/v1/stack-jobs', {
    token: TOKENS.operator,
    query: { org: 'acmecorp', phase: 'awaiting_approval', limit: '100' },
  });
  for (const job of open?.body.items ?? []) await e!.call('POST', `/v1/stack-jobs/${job.metadata.id}/cancel`, { token: TOKENS.operator });
}
