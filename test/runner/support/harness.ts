/**
 * Runs the real runner bundle as a child process against loopback stand-ins: dynalite (jobs), s3rver
 * (artifacts), a small fake of the Step Functions and Secrets Manager JSON APIs (records every SendTask* call),
 * a local bare git repository holding the module, and the stand-in terraform CLI.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { documentClient } from '../../../lambdas/adapters/dynamodb/client';
import { JobRepository } from '../../../lambdas/adapters/dynamodb/job-repository';
import { JOBS_TABLE } from '../../../lambdas/adapters/dynamodb/table-definitions';
import { ArtifactStore } from '../../../lambdas/adapters/s3/artifact-store';
import { ulidIds } from '../../../lambdas/domain/ids';
import { planOperations } from '../../../lambdas/domain/planner';
import { API_VERSION, type StackJob, type TriggerEvent } from '../../../lambdas/domain/schemas';
import { createTables, LOCAL_CREDENTIALS, startEmbeddedDynamo, type EmbeddedDynamo } from '../../../local/embedded-dynamo';
import { startEmbeddedS3, type EmbeddedS3 } from '../../../local/embedded-s3';
import { buildRunner } from '../../../runner-image/build';
import { buildStandin } from '../../support/standin-iac/build';

export const TABLE = 'stackjobs-jobs';
export const BUCKET = 'stackjobs-artifacts';
const ids = ulidIds();

export interface SfnCall {
  action: 'SendTaskSuccess' | 'SendTaskFailure' | 'SendTaskHeartbeat';
  body: { taskToken: string; output?: string; error?: string; cause?: string };
}

/** A loopback fake of the two JSON-protocol AWS APIs the runner calls. */
export class FakeAws {
  readonly sfnCalls: SfnCall[] = [];
  readonly secrets = new Map<string, string>();
  /** Values before each secret's last rotation (the AWSPREVIOUS stage). */
  readonly previousSecrets = new Map<string, string>();
  /** Every SecretId a GetSecretValue asked for. */
  readonly secretReads: string[] = [];
  /** When set, SendTaskHeartbeat answers with this error (TaskTimedOut / TaskDoesNotExist). */
  heartbeatError: string | undefined;
  /** When set, SendTaskSuccess answers with this error (e.g. ValidationException for an output over 256 KB). */
  successError: string | undefined;
  private server!: Server;
  endpoint = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const target = String(req.headers['x-amz-target'] ?? '');
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, string>;
        const reply = (status: number, payload: object) => {
          res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
          res.end(JSON.stringify(payload));
        };
        const [service, action] = target.split('.');
        if (service === 'AWSStepFunctions') {
          this.sfnCalls.push({ action: action as SfnCall['action'], body: body as unknown as SfnCall['body'] });
          if (action === 'SendTaskHeartbeat' && this.heartbeatError) return reply(400, { __type: this.heartbeatError, message: 'task is over' });
          if (action === 'SendTaskSuccess' && this.successError) return reply(400, { __type: this.successError, message: 'refused' });
          return reply(200, {});
        }
        if (service === 'secretsmanager' && action === 'GetSecretValue') {
          const stage = body.VersionStage ?? 'AWSCURRENT';
          this.secretReads.push(stage === 'AWSCURRENT' ? body.SecretId : `${body.SecretId}@${stage}`);
          const value = (stage === 'AWSPREVIOUS' ? this.previousSecrets : this.secrets).get(body.SecretId);
          if (value === undefined) return reply(400, { __type: 'ResourceNotFoundException', Message: 'not found' });
          return reply(200, { ARN: `arn:aws:secretsmanager:us-east-1:123456789012:secret:${body.SecretId}`, Name: body.SecretId, SecretString: value });
        }
        reply(400, { __type: 'UnknownOperationException', message: target });
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  reportsFor(token: string): SfnCall[] {
    return this.sfnCalls.filter((c) => c.body.taskToken === token && c.action !== 'SendTaskHeartbeat');
  }
}

export interface RunnerEnv {
  dynamo: EmbeddedDynamo;
  s3server: EmbeddedS3;
  fake: FakeAws;
  s3: S3Client;
  store: ArtifactStore;
  jobs: JobRepository;
  dir: string;
  repo: string;
  standin: string;
  runnerBundle: string;
  stop(): Promise<void>;
}

function git(cwd: string, ...args: string[]) {
  execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.com', '-c', 'init.defaultBranch=main', ...args], { cwd, stdio: 'pipe' });
}

/** A bare repo with the module under terraform/ at tag v1.0.0 (and a newer commit on main that must not be used). */
function makeModuleRepo(dir: string): string {
  const work = join(dir, 'module-src');
  mkdirSync(join(work, 'terraform'), { recursive: true });
  git(work, 'init', '-q');
  writeFileSync(join(work, 'terraform', 'main.tf'), 'variable "metadata" {}\nvariable "spec" {}\n');
  git(work, 'add', '.');
  git(work, 'commit', '-q', '-m', 'module v1');
  git(work, 'tag', '-a', 'v1.0.0', '-m', 'v1.0.0');
  writeFileSync(join(work, 'terraform', 'main.tf'), 'this commit is after the tag\n');
  git(work, 'commit', '-q', '-am', 'after the tag');
  const bare = join(dir, 'module.git');
  git(dir, 'clone', '-q', '--bare', work, bare);
  return bare;
}

export async function startRunnerEnv(): Promise<RunnerEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'stackjobs-runner-test-'));
  const runnerBundle = join(dir, 'runner', 'runner.js');
  buildRunner(runnerBundle);
  const [dynamo, s3server, fake] = await Promise.all([startEmbeddedDynamo(), startEmbeddedS3({ buckets: [BUCKET] }), (async () => new FakeAws())()]);
  await fake.start();
  await createTables(dynamo.endpoint, { [TABLE]: JOBS_TABLE });
  const s3 = new S3Client({ endpoint: s3server.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS, forcePathStyle: true });
  const db = documentClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  return {
    dynamo,
    s3server,
    fake,
    s3,
    store: new ArtifactStore(s3, BUCKET),
    jobs: new JobRepository(db, TABLE),
    dir,
    repo: makeModuleRepo(dir),
    standin: buildStandin(),
    runnerBundle,
    stop: async () => {
      s3.destroy();
      db.destroy();
      await Promise.all([dynamo.stop(), s3server.stop(), fake.stop()]);
      rmSync(dir, { recursive: true, force: true });
      rmSync(s3server.directory, { recursive: true, force: true });
    },
  };
}

export interface JobOptions {
  trigger?: TriggerEvent;
  previewBeforeUpdate?: boolean;
  skipRefresh?: boolean;
  spec?: Record<string, unknown>;
  providerSecretRef?: string;
  /** The provider credential's provider (default aws: AWS key JSON; any other: a JSON map ENV_NAME -> value). */
  provider?: string;
  gitTokenSecretRef?: string;
  /** The module repository (default: the shared one, env.repo). */
  gitRepo?: string;
}

/** A queued job shaped like the README's StackJob example, with a local backend whose state lives under env.dir. */
export async function createJob(env: RunnerEnv, options: JobOptions = {}): Promise<StackJob> {
  const id = ids.next('sj');
  const now = new Date().toISOString();
  const policy = { previewBeforeUpdate: options.previewBeforeUpdate ?? true, pauseBetweenPreviewAndUpdate: true, skipRefresh: options.skipRefresh ?? false };
  const operations = planOperations(options.trigger ?? 'updated', policy, 'terraform');
  const job: StackJob = {
    apiVersion: API_VERSION,
    kind: 'StackJob',
    metadata: {
      id,
      name: 'eks_01jq5xe4z7farkgenqsh47c1h0',
      org: 'acmecorp',
      env: 'production',
      version: { id: 'ver-01jsrnmrwjn57drj0ekht8hb93', message: 'Scale EKS node group' },
    },
    spec: {
      apiResourceInfo: {
        kind: 'aws_eks_cluster',
        id: 'eks_01jq5xe4z7farkgenqsh47c1h0',
        name: 'prod-api-cluster',
        versionId: 'ver-01jsrnmrwjn57drj0ekht8hb93',
        triggerEvent: options.trigger ?? 'updated',
        eventCreatedBy: 'user@company.com',
        spec: options.spec ?? { nodeGroupSize: 5, instanceType: 't3.large' },
      },
      essentials: {
        provisioner: 'terraform',
        iacModule: {
          id: 'iacmod_eks',
          gitRepo: options.gitRepo ?? env.repo,
          branch: 'v1.0.0',
          path: 'terraform',
          rule: 'platform default',
          ...(options.gitTokenSecretRef ? { gitTokenSecretRef: options.gitTokenSecretRef } : {}),
        },
        backendCredential: {
          kind: 'terraform_backend_credential',
          id: 'tfcred_local',
          type: 'local',
          config: { path: join(env.dir, 'states', id) },
          stateKey: `stack-jobs/acmecorp/production/${id}/terraform.tfstate`,
        },
        ...(options.providerSecretRef
          ? {
              providerCredential: {
                kind: `${options.provider ?? 'aws'}_credential`,
                id: 'cred_prod',
                provider: options.provider ?? 'aws',
                secretRef: options.providerSecretRef,
              },
            }
          : {}),
        stackJobRunner: { id: 'sjr_platform_runner' },
        flowControlPolicy: {
          ...policy,
          approvers: [],
          requireDistinctApprover: false,
          approvalTimeoutMinutes: 60,
          source: { level: 'platform', id: 'default' },
        },
      },
      operations,
    },
    status: {
      phase: 'running',
      result: 'tbd',
      createdAt: now,
      updatedAt: now,
      operations: operations.map((name) => ({ name, status: 'pending', result: 'tbd', errors: [] })),
      preflight: [],
    },
  };
  if (!(await env.jobs.create(job))) throw new Error('job exists');
  return job;
}

export interface RunOptions {
  jobId: string;
  phase: 'preview' | 'update';
  token: string;
  /** The approved digest; `''` is passed as an empty variable, exactly as the state machine does without a preview. */
  planDigest?: string;
  env?: Record<string, string>;
}

export interface RunnerProcess {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; ms: number }>;
  workDir: string;
}

/** Starts the runner bundle exactly as the container would, with the documented environment contract. */
export function startRunner(env: RunnerEnv, options: RunOptions): RunnerProcess {
  const workDir = join(env.dir, 'work', options.jobId);
  mkdirSync(workDir, { recursive: true });
  const started = Date.now();
  const child = spawn(process.execPath, [env.runnerBundle], {
    env: {
      PATH: process.env.PATH,
      HOME: env.dir,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      AWS_ENDPOINT_URL_DYNAMODB: env.dynamo.endpoint,
      AWS_ENDPOINT_URL_S3: env.s3server.endpoint,
      AWS_ENDPOINT_URL_SFN: env.fake.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: env.fake.endpoint,
      STACKJOBS_S3_FORCE_PATH_STYLE: 'true',
      STACKJOBS_JOB_ID: options.jobId,
      STACKJOBS_PHASE: options.phase,
      STACKJOBS_TASK_TOKEN: options.token,
      STACKJOBS_JOBS_TABLE: TABLE,
      STACKJOBS_ARTIFACTS_BUCKET: BUCKET,
      STACKJOBS_WORK_DIR: workDir,
      STACKJOBS_TERRAFORM_BIN: env.standin,
      STACKJOBS_HEARTBEAT_SECONDS: '60',
      STACKJOBS_GRACE_SECONDS: '5',
      STACKJOBS_LOG_FLUSH_SECONDS: '0.2',
      // Passed whenever given, '' included: the state machine's Skip Preview state sets STACKJOBS_PLAN_DIGEST=''.
      ...(options.planDigest !== undefined ? { STACKJOBS_PLAN_DIGEST: options.planDigest } : {}),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout!.resume();
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; ms: number }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stderr, ms: Date.now() - started })),
  );
  return { child, done, workDir };
}

export async function runRunner(env: RunnerEnv, options: RunOptions) {
  return startRunner(env, options).done;
}

/** Every object the job left in the bucket, key -> body. */
export async function allObjects(env: RunnerEnv, prefix: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  let token: string | undefined;
  do {
    const page = await env.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      const obj = await env.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: o.Key! }));
      out.set(o.Key!, Buffer.from(await obj.Body!.transformToByteArray()));
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export function readCalls(file: string): Array<{ command: string; argv: string[]; pid: number; uid?: number }> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { command: string; argv: string[]; pid: number; uid?: number });
}

/** Polls until `check` is true or the time is up. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}
