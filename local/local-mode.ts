/**
 * Local mode: the whole product on one machine, on loopback only, with the production code paths.
 * - DynamoDB: dynalite, with the tables the synthesized template defines (keys and indexes read from it);
 * - S3: s3rver; Step Functions, Secrets Manager, EventBridge, ECS StopTask: the protocol server;
 * - the state machine: the definition extracted from the synthesized template, its Lambda tasks bound to the very
 *   handler files the CDK app deploys, its runner tasks to the runner bundle started as a child process;
 * - API Gateway: a loopback HTTP server in front of the same API handler;
 * - IAM: each handler runs as its deployed function and the runner with a key of its own, and every request they make
 *   to a stand-in is held to the actions their roles in the template allow (local-iam.ts).
 * Every SDK client finds its stand-in through the SDK's own AWS_ENDPOINT_URL_<SERVICE> variables.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { verifySigV4 } from './sigv4';
import { chmodSync, cpSync, existsSync, lchownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DynamoDBClient, type CreateTableCommandInput, type Projection } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { extractStateMachine, LOCAL_ACCOUNT, LOCAL_REGION, resolver, synthesizeTemplate, type CfnTemplate } from '../infra/asl';
import { buildRunner } from '../runner-image/build';
import { reownTree } from '../runner-image/src/tool-user';
import { callerAccess, hasPermission } from '../lambdas/http/principal';
import type { Principal } from '../lambdas/domain/schemas';
import { catalogEntries, type LocalConfig } from './config';
import { ensureTable, LOCAL_CREDENTIALS, startEmbeddedDynamo, type EmbeddedDynamo } from './embedded-dynamo';
import { startEmbeddedS3, type EmbeddedS3 } from './embedded-s3';
import { startHttpApi, type HttpApi } from './http-api';
import { startFaultProxy, type FaultProxy, type FaultRule } from './fault-proxy';
import { accessKeyIdOf, jsonActionOf, LocalIam, s3ActionsOf } from './local-iam';
import { ENTRY_METADATA } from '../infra/constructs/stack-jobs-function';
import { startProtocolServer, type ProtocolServer, type PublishedEvent } from './aws-protocol-server';
import { LocalStepFunctions, type TaskBinding } from './step-functions';
import { isApprovalExpiry } from '../lambdas/approvals/expired';
import { isDriftDetected } from '../lambdas/events/drift-detected';
import { catalogSchedules, startDriftScheduler, type DriftScheduler } from './drift-scheduler';
import { Spawner, type SpawnedProcess } from './spawner';
import { LocalToolUsers, type ToolIdentity } from './tool-users';
import { WorkflowErrorName } from '../lambdas/workflow/errors';
import { ECS_TASK_STATE_CHANGE, RUNNER_CONTAINER_NAME, type RunnerStoppedOutcome } from '../lambdas/workflow/runner-stopped';

export const REPO_ROOT = resolve(__dirname, '..');

export interface LocalModeOptions {
  config: LocalConfig;
  /** Where DynamoDB and S3 keep their data; jobs survive a restart when it is kept. @default a new temp dir, removed when local mode stops */
  dataDir?: string;
  /** Keep DynamoDB in memory instead of under dataDir. */
  inMemory?: boolean;
  /** API port; 0 lets the OS choose. */
  port?: number;
  /** Environment for the runner processes (IaC binaries, timeouts); the contract variables are set here. */
  runnerEnv?: Record<string, string>;
  /** Shortened Wait states (ms by state name), e.g. the stack-lock wait in tests. */
  waitTimeOverrides?: Record<string, number>;
  /** HeartbeatSeconds per Task state (seconds by state name), e.g. a short runner heartbeat timeout in fault tests. */
  heartbeatSecondsOverrides?: Record<string, number>;
  /** TimeoutSeconds per Task state (seconds by state name), e.g. a short stack-lock park ('Wait For Stack Lock'). */
  timeoutSecondsOverrides?: Record<string, number>;
  /** Fault-injecting proxies put in front of dynalite and s3rver; every client (API, workflow, runner) goes through them. */
  faults?: { dynamodb?: FaultRule; s3?: FaultRule };
  log?: (line: string) => void;
  /** Wraps the API handler, e.g. to observe which AWS calls a request makes itself (the bench's call chains). */
  wrapApiHandler?: (handler: ApiHandler) => ApiHandler;
  /** The drift schedules' clock and tick (local/drift-scheduler.ts), e.g. a fast clock in tests. @default the system clock, every 10 s */
  driftScheduler?: { tickMs?: number; now?: () => Date };
  /** The built web console (infra/console-build.ts) to serve at `/`; unset: the port answers the API only. */
  consoleDir?: string;
  /** Browser origins allowed to call the API from elsewhere, as the API's CORS configuration allows the console's on AWS. */
  corsOrigins?: string[];
}

export type ApiHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

export interface LocalMode {
  apiUrl: string;
  dataDir: string;
  awsEndpoint: string;
  dynamoEndpoint: string;
  s3Endpoint: string;
  /** Resource names as the deployed stack would have them (table, bucket, state machine ARN...). */
  names: { jobsTable: string; catalogTable: string; artifactsBucket: string; stateMachineArn: string; eventBusName: string };
  events: PublishedEvent[];
  /** The fault proxies started for `options.faults`, by service. */
  faultProxies: { dynamodb?: FaultProxy; s3?: FaultProxy };
  /** This run's credentials: the only ones its endpoints answer (DynamoDB, S3, the protocol endpoint). */
  credentials: { accessKeyId: string; secretAccessKey: string };
  sfn: LocalStepFunctions;
  runners: Map<string, SpawnedProcess>;
  /** Runs the catalog's drift schedules (EventBridge Scheduler's stand-in). */
  driftScheduler: DriftScheduler;
  /**
   * Runs `work` as the deployed function whose code is `entry` (its `stackjobs:entry`): the AWS requests it makes are
   * held to that function's role, as its handler's are (local-iam.ts). For tools and tests that check a grant.
   */
  runAs<T>(entry: string, work: () => T): T;
  /**
   * Rotates a local secret as Secrets Manager's rotation does: `value` becomes current and the value it had becomes the
   * AWSPREVIOUS version (what the runner also masks, since state still holds values set with it).
   */
  rotateSecret(id: string, value: string): void;
  stop(): Promise<void>;
}

type Handler = (event: unknown) => Promise<unknown>;

/**
 * Kills (SIGKILL, with its process group) every process whose working directory is under `dir`: a job's tools, which
 * run in their own process groups and outlive a runner that was killed. Linux /proc only; elsewhere nothing.
 */
export function killProcessesIn(dir: string): number {
  let killed = 0;
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return 0;
  }
  for (const pid of pids) {
    try {
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      if (cwd !== dir && !cwd.startsWith(`${dir}/`)) continue;
      try {
        process.kill(-Number(pid), 'SIGKILL');
      } catch {
        process.kill(Number(pid), 'SIGKILL');
      }
      killed++;
    } catch {
      // gone, or not ours to read
    }
  }
  return killed;
}

/**
 * One local mode per data directory: a second one would share dynalite's files and crash on a closed database. The
 * pid file names the holder; a pid file left by a process that is gone (SIGKILL) is taken over.
 */
const claimedHere = new Set<string>();

export function claimDataDir(dataDir: string): () => void {
  const file = join(dataDir, 'local-mode.pid');
  for (;;) {
    try {
      if (claimedHere.has(dataDir)) throw Object.assign(new Error('claimed in this process'), { code: 'EEXIST' });
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      claimedHere.add(dataDir);
      return () => {
        claimedHere.delete(dataDir);
        rmSync(file, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = claimedHere.has(dataDir) ? process.pid : Number(readFileSync(file, 'utf8').trim());
      let alive = claimedHere.has(dataDir);
      if (!alive && holder !== process.pid) {
        try {
          process.kill(holder, 0);
          // A killed process stays a zombie until reaped (and some containers' init never reaps): that is not a holder.
          alive = !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${holder}/stat`, 'utf8'));
        } catch (err) {
          // EPERM: someone else's live process; ENOENT on /proc (not Linux): trust kill.
          alive = (err as NodeJS.ErrnoException).code === 'EPERM' || (err as NodeJS.ErrnoException).code === 'ENOENT';
        }
      }
      if (alive)
        throw new Error(
          `the data directory ${dataDir} is in use by another local mode (pid ${holder}): stop it, or set STACKJOBS_DATA_DIR to another directory`,
        );
      rmSync(file, { force: true });
    }
  }
}

const graceSeconds = (runnerEnv: Record<string, string> = {}) => Number(runnerEnv.STACKJOBS_GRACE_SECONDS ?? 30);

/**
 * Stops every runner the way ECS stops a task: SIGTERM (the runner interrupts its tool, which writes its state and
 * releases its lock, and records the operation as cancelled), then, after the grace period, SIGKILL for whatever is
 * left, the tools' own process groups included.
 */
async function stopRunners(runners: Map<string, SpawnedProcess>, grace: number, log: (l: string) => void): Promise<void> {
  const live = [...runners.values()];
  if (live.length === 0) return;
  log(`stopping ${live.length} runner(s) (grace ${grace} s)`);
  const exited = live.map((c) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r()))));
  for (const c of live) c.kill('SIGTERM');
  await Promise.race([Promise.all(exited), new Promise((r) => setTimeout(r, (grace + 5) * 1000))]);
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

/**
 * Local executions live in memory: after a restart none of them exists. What the data directory says is reconciled
 * here, before anything is served: leftover runners and tools (a SIGKILLed local mode leaves them) are stopped; a job
 * that was running or awaiting approval ends `interrupted` (naming the operation it was in, its logs kept, its lease
 * released, the next job woken); a queued job gets its execution again and takes its place in the queue.
 */
async function recoverJobs(dataDir: string, names: { jobsTable: string; stateMachineArn: string }, log: (l: string) => void): Promise<void> {
  const leftovers = killProcessesIn(join(dataDir, 'work')) + killProcessesRunning(join(dataDir, 'runner', 'runner.js'));
  if (leftovers > 0) log(`stopped ${leftovers} process(es) an earlier local mode on ${dataDir} left running`);
  const { documentClient } = await import('../lambdas/adapters/dynamodb/client');
  const { JobRepository } = await import('../lambdas/adapters/dynamodb/job-repository');
  const open = (await new JobRepository(documentClient(), names.jobsTable).listUnfinished()).filter((j) => j.status.phase !== 'completed');
  if (open.length === 0) return;
  const { workflowDepsFromEnv } = await import('../lambdas/workflow/deps');
  const { cleanupExecution } = await import('../lambdas/workflow/lifecycle');
  const { SfnExecutionStarter } = await import('../lambdas/adapters/aws/sfn-execution-starter');
  const clients = await import('../lambdas/adapters/aws/clients');
  const wf = workflowDepsFromEnv();
  open.sort((a, b) => a.status.createdAt.localeCompare(b.status.createdAt));
  for (const job of open.filter((j) => j.status.phase !== 'queued')) {
    await cleanupExecution(wf, job.metadata.id, { status: 'INTERRUPTED', seen: 'local mode stopped' });
    log(`job ${job.metadata.id} was ${job.status.phase} when local mode stopped: ended interrupted, its stack released`);
  }
  const starter = new SfnExecutionStarter(clients.sfn, names.stateMachineArn);
  for (const job of open.filter((j) => j.status.phase === 'queued')) {
    await starter.start(job);
    log(`job ${job.metadata.id} was queued when local mode stopped: its execution started again`);
  }
}

/** Kills every process whose command line runs `path` (a runner bundle of this data directory). */
function killProcessesRunning(path: string): number {
  let killed = 0;
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid);
  } catch {
    return 0;
  }
  for (const pid of pids) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(path)) continue;
      process.kill(Number(pid), 'SIGKILL');
      killed++;
    } catch {
      // gone, or not ours
    }
  }
  return killed;
}

/** s3rver's account registry (its own signature check reads it). */
type S3rverAccounts = { DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void; revokeAccessKey(id: string): void } };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const s3rverAccounts = (): S3rverAccounts => require('s3rver/lib/models/account') as S3rverAccounts;

/** What S3 answers a request whose signature it cannot verify. */
function s3AccessDenied() {
  return s3Refused('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
}

/** An S3 error answer (403) with its code and message. */
function s3Refused(code: string, message: string) {
  const escaped = message.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return {
    status: 403,
    headers: { 'content-type': 'application/xml' },
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${escaped}</Message></Error>`,
  };
}

/** What DynamoDB answers an action the caller's role does not allow. */
function dynamoAccessDenied(message: string) {
  return {
    status: 400,
    headers: { 'content-type': 'application/x-amz-json-1.0' },
    body: JSON.stringify({ __type: 'com.amazon.coral.service#AccessDeniedException', message }),
  };
}

/** What DynamoDB answers a request signed with a key it does not know. */
function dynamoUnrecognizedClient() {
  return {
    status: 400,
    headers: { 'content-type': 'application/x-amz-json-1.0' },
    body: JSON.stringify({ __type: 'com.amazon.coral.service#UnrecognizedClientException', message: 'The security token included in the request is invalid.' }),
  };
}

/**
 * The "ECS Task State Change" event ECS emits once a runner task has stopped, for a runner process that exited: its
 * container's exit code (128 + the signal's number when killed, as Docker reports it) and the overrides it started
 * with. The runner-stopped Lambda reads exactly these fields on AWS.
 */
export function runnerStoppedEvent(taskArn: string, containerEnv: Record<string, string>, exit: { code: number | null; signal: NodeJS.Signals | null }) {
  const exitCode = exit.signal ? 128 + constants.signals[exit.signal] : (exit.code ?? 0);
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': ECS_TASK_STATE_CHANGE,
    source: 'aws.ecs',
    account: LOCAL_ACCOUNT,
    time: new Date().toISOString(),
    region: LOCAL_REGION,
    resources: [taskArn],
    detail: {
      clusterArn: `arn:aws:ecs:${LOCAL_REGION}:${LOCAL_ACCOUNT}:cluster/local`,
      taskArn,
      lastStatus: 'STOPPED',
      desiredStatus: 'STOPPED',
      startedBy: 'AWS Step Functions',
      stopCode: 'EssentialContainerExited',
      stoppedReason: 'Essential container in task exited',
      containers: [{ name: RUNNER_CONTAINER_NAME, lastStatus: 'STOPPED', exitCode }],
      overrides: { containerOverrides: [{ name: RUNNER_CONTAINER_NAME, environment: Object.entries(containerEnv).map(([name, value]) => ({ name, value })) }] },
    },
  };
}

/**
 * Started as root (and not told otherwise), local mode runs the IaC commands of each org under that org's own uid
 * (tool-users.ts), as the image runs them under stackjobs-tool: the data directory becomes traverse-only, DynamoDB's and
 * S3's files stay root's, and so does the state directory of local backends, in which the runner gives each stack's
 * directory to its org's uid (STACKJOBS_LOCAL_STATE_ROOT). Module code then reads neither the runner's environment nor
 * local mode's data, nor another org's running tool, workspace or state.
 */
export async function localToolUsers(
  dataDir: string,
  runnerEnv: Record<string, string> = {},
  log: (line: string) => void = () => undefined,
): Promise<LocalToolUsers | undefined> {
  if (process.getuid?.() !== 0 || runnerEnv.STACKJOBS_TOOL_UID !== undefined) return undefined;
  chmodSync(dataDir, 0o711);
  for (const own of ['dynamodb', 's3', 'runner']) {
    mkdirSync(join(dataDir, own), { recursive: true, mode: 0o700 });
    chmodSync(join(dataDir, own), 0o700);
  }
  // Workspaces live under work/ (the runner makes each its tool's; traverse-only above them).
  mkdirSync(join(dataDir, 'work'), { recursive: true });
  chmodSync(join(dataDir, 'work'), 0o711);
  // Root's and traverse-only: the runner hands each stack's directory under it to that stack's org. What is in it is
  // made root's and private first (reownTree: from the top down, so no process of a tool's uid can swap a link in on
  // the way), which is what a data directory from a version that gave it all to one shared tool user needs; each
  // stack's directory goes back to its org at that stack's next job.
  const state = join(dataDir, 'state');
  mkdirSync(state, { recursive: true });
  lchownSync(state, 0, 0);
  chmodSync(state, 0o711);
  for (const name of readdirSync(state)) {
    // One tree that cannot be walked (deeper than a path may be, say) stays as far as the walk got, root's: it keeps
    // nobody else out, and local mode starts for every other org.
    await reownTree(join(state, name), { uid: 0, gid: 0 }, { dir: 0o700, file: 0o600 }).catch((e: Error) =>
      log(`state/${name}: could not make all of it root's and private (${e.message}); what was walked is`),
    );
  }
  return new LocalToolUsers(dataDir);
}

/** Runner settings a local run may shorten over the deployed values the state machine passes (tests, the demo). */
const LOCAL_TUNABLE = ['STACKJOBS_GRACE_SECONDS', 'STACKJOBS_OPERATION_TIMEOUT_SECONDS'] as const;
const localTuning = (runnerEnv: Record<string, string> = {}) =>
  Object.fromEntries(LOCAL_TUNABLE.filter((k) => runnerEnv[k] !== undefined).map((k) => [k, runnerEnv[k]]));

/**
 * A bare git repository per module folder under `modulesDir` (default: the example modules), at
 * `{dataDir}/git/<name>.git`, tagged v1.0.0 as the catalog expects, so the runner clones it like any module.
 */
export function publishExampleModules(dataDir: string, modulesDir = join(REPO_ROOT, 'examples', 'modules')): void {
  if (!existsSync(modulesDir)) return;
  for (const name of readdirSync(modulesDir)) {
    const bare = join(dataDir, 'git', `${name}.git`);
    if (existsSync(bare)) continue;
    const work = mkdtempSync(join(tmpdir(), `stackjobs-module-${name}-`));
    cpSync(join(modulesDir, name), work, { recursive: true });
    const git = (cwd: string, ...args: string[]) =>
      execFileSync('git', args, {
        cwd,
        stdio: 'ignore',
        env: {
          ...process.env,
          GIT_AUTHOR_NAME: 'stackjobs',
          GIT_AUTHOR_EMAIL: 'local@stackjobs',
          GIT_COMMITTER_NAME: 'stackjobs',
          GIT_COMMITTER_EMAIL: 'local@stackjobs',
        },
      });
    git(work, 'init', '-q', '-b', 'main');
    git(work, 'add', '.');
    git(work, 'commit', '-q', '-m', `example module ${name}`);
    git(work, 'tag', 'v1.0.0');
    mkdirSync(join(dataDir, 'git'), { recursive: true });
    git(dataDir, 'clone', '-q', '--bare', work, bare);
    rmSync(work, { recursive: true, force: true });
  }
}

/** CreateTable inputs for every table in the template, exactly as CloudFormation would create them. */
export function tablesFromTemplate(template: CfnTemplate): CreateTableCommandInput[] {
  return Object.entries(template.Resources)
    .filter(([, r]) => r.Type === 'AWS::DynamoDB::GlobalTable' || r.Type === 'AWS::DynamoDB::Table')
    .map(([id, r]) => {
      const p = r.Properties as {
        AttributeDefinitions: CreateTableCommandInput['AttributeDefinitions'];
        KeySchema: CreateTableCommandInput['KeySchema'];
        GlobalSecondaryIndexes?: { IndexName: string; KeySchema: NonNullable<CreateTableCommandInput['KeySchema']>; Projection: Projection }[];
      };
      return {
        TableName: id,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: p.AttributeDefinitions,
        KeySchema: p.KeySchema,
        ...(p.GlobalSecondaryIndexes?.length
          ? { GlobalSecondaryIndexes: p.GlobalSecondaryIndexes.map((g) => ({ IndexName: g.IndexName, KeySchema: g.KeySchema, Projection: g.Projection })) }
          : {}),
      } satisfies CreateTableCommandInput;
    });
}

const bucketName = (logicalId: string) => logicalId.toLowerCase();

export async function startLocalMode(options: LocalModeOptions): Promise<LocalMode> {
  const log = options.log ?? (() => undefined);
  const dataDir = resolve(options.dataDir ?? mkdtempSync(join(tmpdir(), 'stackjobs-local-')));
  // A directory local mode made for itself is nobody else's: it goes when local mode stops (a named one stays).
  const removeOwnDataDir = () => {
    if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  mkdirSync(dataDir, { recursive: true });
  const startedAt = Date.now();
  const releaseDataDir = claimDataDir(dataDir);
  // This run's credentials: every client of local mode signs with them, and its endpoints answer nothing else.
  const runCredentials = { accessKeyId: `LOCAL${randomBytes(8).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(24).toString('base64') };
  // The runner's own key, signed like the run's, so local IAM can tell its requests from the functions' (local-iam.ts).
  const runnerCredentials = { accessKeyId: `LOCALRUNNER${randomBytes(6).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(24).toString('base64') };
  const runSecret = (id: string) =>
    id === runCredentials.accessKeyId ? runCredentials.secretAccessKey : id === runnerCredentials.accessKeyId ? runnerCredentials.secretAccessKey : undefined;
  const toolUsers = await localToolUsers(dataDir, options.runnerEnv, log);
  const stops: (() => Promise<void>)[] = [];
  const runners = new Map<string, SpawnedProcess>();
  try {
    // Progress while starting (about 15 s, most of it the synth), so nobody stares at silence.
    const step = (what: string) => log(`starting: ${what} (${((Date.now() - startedAt) / 1000).toFixed(1)} s)`);
    step('synthesizing the CDK app offline');
    const template = synthesizeTemplate();
    // The roles of the template, held on every request a function or the runner makes to the stand-ins below.
    const iam = new LocalIam(template.Resources as never, ENTRY_METADATA);
    stops.push(async () => iam.stop());
    const denial = (action: string, remotePort: number | undefined, authorization: unknown) => {
      const denied = iam.denial(
        action,
        remotePort,
        accessKeyIdOf(typeof authorization === 'string' ? authorization : undefined),
        runnerCredentials.accessKeyId,
      );
      // Said where an operator looks: on AWS this is the function's own AccessDenied, in its log.
      if (denied) log(`IAM refused: ${denied}`);
      return denied;
    };
    const machine = extractStateMachine(template);
    const ofType = (type: string) =>
      Object.entries(template.Resources)
        .filter(([, r]) => r.Type === type)
        .map(([id]) => id);
    const stateMachineId = ofType('AWS::StepFunctions::StateMachine')[0];
    const stateMachineArn = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:${stateMachineId}`;
    const buckets = ofType('AWS::S3::Bucket');
    // A Ref in the template resolves to the logical id locally; buckets are lowercased for S3's naming rules.
    const localRef = (id: string) =>
      buckets.includes(id) ? bucketName(id) : template.Resources[id]?.Type === 'AWS::StepFunctions::StateMachine' ? stateMachineArn : id;

    step('starting DynamoDB (dynalite)');
    const dynamo: EmbeddedDynamo = await startEmbeddedDynamo({ path: options.inMemory ? undefined : join(dataDir, 'dynamodb') });
    stops.push(() => dynamo.stop());
    const ddb = new DynamoDBClient({ endpoint: dynamo.endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
    for (const table of tablesFromTemplate(template)) {
      if ((await ensureTable(ddb, table, dataDir)) === 'rebuilt')
        log(`rebuilt table ${table.TableName} in ${join(dataDir, 'dynamodb')} with this version's indexes, every item written back and counted`);
    }
    ddb.destroy();

    step('starting S3 (s3rver)');
    const s3: EmbeddedS3 = await startEmbeddedS3({ directory: join(dataDir, 's3'), buckets: buckets.map(bucketName) });
    stops.push(() => s3.stop());
    // s3rver knows an access key id but never checks a SigV4 signature: it must know this run's key, and a gate in front
    // of it (below) checks the signatures.
    s3rverAccounts().DUMMY_ACCOUNT.createKeyPair(runCredentials.accessKeyId, runCredentials.secretAccessKey);
    s3rverAccounts().DUMMY_ACCOUNT.createKeyPair(runnerCredentials.accessKeyId, runnerCredentials.secretAccessKey);
    stops.push(async () => s3rverAccounts().DUMMY_ACCOUNT.revokeAccessKey(runCredentials.accessKeyId));
    stops.push(async () => s3rverAccounts().DUMMY_ACCOUNT.revokeAccessKey(runnerCredentials.accessKeyId));

    const faultProxies: LocalMode['faultProxies'] = {};
    for (const [service, target] of [
      ['dynamodb', dynamo.endpoint],
      ['s3', s3.endpoint],
    ] as const) {
      const rule = options.faults?.[service];
      if (!rule) continue;
      const proxy = await startFaultProxy(target, rule);
      faultProxies[service] = proxy;
      stops.push(() => proxy.stop());
    }
    // dynalite checks no signature: a gate in front of it answers only requests signed with this run's credentials.
    const dynamoGate = await startFaultProxy(faultProxies.dynamodb?.endpoint ?? dynamo.endpoint, async (req) => {
      if (!(await verifySigV4(req, runSecret))) return dynamoUnrecognizedClient();
      const action = jsonActionOf(String(req.headers['x-amz-target'] ?? ''));
      const denied = action ? denial(action, req.remotePort, req.headers.authorization) : undefined;
      return denied ? dynamoAccessDenied(denied) : undefined;
    });
    stops.push(() => dynamoGate.stop());
    // The same for S3 (header-signed requests only: presigned URLs are not served in local mode).
    const s3Gate = await startFaultProxy(faultProxies.s3?.endpoint ?? s3.endpoint, async (req) => {
      if (!(await verifySigV4(req, runSecret))) return s3AccessDenied();
      const copy = req.headers['x-amz-copy-source'];
      const actions = s3ActionsOf(req.method, req.url, typeof copy === 'string' ? copy : undefined);
      const denied = actions.map((a) => denial(a, req.remotePort, req.headers.authorization)).find(Boolean);
      return denied ? s3Refused('AccessDenied', denied) : undefined;
    });
    stops.push(() => s3Gate.stop());

    // Bound once the handlers load (below): the rule that closes an expired approval's Slack message.
    let approvalExpired: Handler | undefined = undefined;
    // And the rule on Stack Drift Detected (events.ts routeDriftDetected).
    let driftDetected: Handler | undefined = undefined;

    // Secrets: the config's, plus each template secret under its local name (its logical id).
    const secrets: Record<string, string> = { ...options.config.secrets };
    for (const id of ofType('AWS::SecretsManager::Secret')) {
      if (/SigningSecret/i.test(id) && options.config.slack.signingSecret) secrets[id] = options.config.slack.signingSecret;
      if (/BotToken/i.test(id) && options.config.slack.botToken) secrets[id] = options.config.slack.botToken;
    }

    // Created after the server, which needs to reach it: the engine is bound last.
    const engine: { sfn?: LocalStepFunctions } = {};
    const previousSecrets: Record<string, string> = {};
    const protocol: ProtocolServer = await startProtocolServer({
      sfn: () => engine.sfn!,
      secrets,
      previousSecrets,
      runCredentials,
      runnerCredentials,
      authorize: (action, req) => denial(action, req.socket.remotePort, req.headers.authorization),
      ...(options.config.sts ? { stsKnownKeys: options.config.sts.accessKeyIds } : {}),
      onEvent: (e) => {
        log(`event  ${e.detailType} ${JSON.stringify(e.detail)}`);
        // The rule on the app's bus that closes the Slack message of an approval that closed unattended (events.ts routeApprovalExpiries).
        if (approvalExpired && isApprovalExpiry(e)) {
          void approvalExpired({ source: e.source, 'detail-type': e.detailType, detail: e.detail }).catch((err: Error) =>
            log(`closing the approval's Slack message failed: ${err.name}`),
          );
        }
        if (driftDetected && isDriftDetected(e)) {
          void driftDetected({ source: e.source, 'detail-type': e.detailType, detail: e.detail }).catch((err: Error) =>
            log(`handling the drift event failed: ${err.name}: ${err.message}`),
          );
        }
      },
      stopTask: async (taskArn) => {
        const child = runners.get(taskArn);
        if (!child || child.exitCode !== null) return false;
        child.kill('SIGTERM');
        return true;
      },
    });
    stops.push(() => protocol.stop());

    // The environment every deployed function gets, with references turned into local names, plus the endpoints.
    const env: Record<string, string> = {
      AWS_REGION: LOCAL_REGION,
      AWS_DEFAULT_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: runCredentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: runCredentials.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: dynamoGate.endpoint,
      AWS_ENDPOINT_URL_S3: s3Gate.endpoint,
      AWS_ENDPOINT_URL_SFN: protocol.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: protocol.endpoint,
      AWS_ENDPOINT_URL_EVENTBRIDGE: protocol.endpoint,
      AWS_ENDPOINT_URL_ECS: protocol.endpoint,
      AWS_ENDPOINT_URL_STS: protocol.endpoint,
      STACKJOBS_S3_FORCE_PATH_STYLE: 'true',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    for (const id of ofType('AWS::Lambda::Function')) {
      const vars = (template.Resources[id].Properties as { Environment?: { Variables?: Record<string, unknown> } }).Environment?.Variables ?? {};
      for (const [k, v] of Object.entries(vars)) {
        if (k === 'NODE_OPTIONS' || k.startsWith('POWERTOOLS_')) continue;
        if (typeof v === 'string') env[k] = v;
        else if (v && typeof v === 'object' && 'Ref' in v) env[k] = localRef(String((v as { Ref: string }).Ref));
        else if (v && typeof v === 'object' && 'Fn::Join' in v) env[k] = resolver(template)(v);
      }
    }
    // Drift schedules run in process (drift-scheduler.ts, below): the API keeps no EventBridge Scheduler in step.
    for (const k of ['DRIFT_SCHEDULE_GROUP', 'DRIFT_SCHEDULER_ROLE_ARN', 'DRIFT_FAN_OUT_FUNCTION_ARN']) {
      delete env[k];
      delete process.env[k];
    }
    if (options.config.slack.apiUrl) env.SLACK_API_URL = options.config.slack.apiUrl;
    Object.assign(process.env, env);
    const names = {
      jobsTable: env.JOBS_TABLE,
      catalogTable: env.CATALOG_TABLE,
      artifactsBucket: env.ARTIFACTS_BUCKET,
      stateMachineArn,
      eventBusName: env.EVENT_BUS_NAME,
    };

    // Load the catalog through the same repository the API uses.
    const { documentClient } = await import('../lambdas/adapters/dynamodb/client');
    const { CatalogRepository } = await import('../lambdas/adapters/dynamodb/catalog-repository');
    const db = documentClient();
    // Jobs kept from a version without the open-by-stack index get its keys (the same step an AWS upgrade runs).
    const { JobRepository } = await import('../lambdas/adapters/dynamodb/job-repository');
    const jobRepository = new JobRepository(db, names.jobsTable);
    const backfilled = await jobRepository.backfillOpenIndex();
    const orgOfJob = async (id: string) => {
      const found = await jobRepository.get(id);
      if (!found) throw new Error(`no stack job ${id}: its runner task was not started`);
      return found.job.metadata.org;
    };
    if (backfilled > 0) log(`gave ${backfilled} unfinished job(s) from an earlier version their place in the stack queue index`);
    const catalog = new CatalogRepository(db, names.catalogTable);
    const withDataDir = (v: unknown): unknown => JSON.parse(JSON.stringify(v).replaceAll('{dataDir}', dataDir.replace(/\\/g, '/')));
    // {dataDir} is resolved before validation: the catalog's own rules (paths, URLs) apply to what is stored.
    for (const e of catalogEntries({ ...options.config, catalog: withDataDir(options.config.catalog) as LocalConfig['catalog'] })) {
      await catalog.put(e.kind, e.owner, e.id, e.entity, 'local-config', new Date());
    }
    publishExampleModules(dataDir);
    // The config's Slack users, linked with the roles of the config's principal of the same subject (what that person's
    // own token shows, as a link they made themselves records); the config's workspace is the one that counts.
    if (options.config.slack.teamId) {
      process.env.SLACK_TEAM_ID = options.config.slack.teamId;
      const { SlackLinkRepository } = await import('../lambdas/adapters/dynamodb/slack-link-repository');
      const links = new SlackLinkRepository(db, names.jobsTable);
      for (const [userId, subject] of Object.entries(options.config.slack.users)) {
        await links.put({
          teamId: options.config.slack.teamId,
          userId,
          subject,
          linkedBy: 'local-config',
          linkedAt: new Date().toISOString(),
          via: 'local-config',
          orgRoles: Object.fromEntries(
            options.config.principals.filter((p) => p.subject === subject).flatMap((p) => callerAccess(p).orgs.map((o) => [o.org, o.roles])),
          ),
        });
      }
    }

    // The runner: the same bundle the image runs, as a child process with the Fargate environment contract, started
    // from a small helper process (spawner.ts: forking local mode itself blocked it for ~40 ms per task).
    const runnerBundle = join(dataDir, 'runner', 'runner.js');
    buildRunner(runnerBundle);
    const spawner = await Spawner.start();
    stops.push(() => spawner.stop());
    // The handler files are named by the template (stackjobs:entry metadata), so they are loaded by path.
    // Each runs as its deployed function, so its AWS requests are held to that function's role (local-iam.ts).
    const load = (entry: string): Handler => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const handler = (require(join(REPO_ROOT, entry)) as { handler: Handler }).handler;
      const fn = iam.functionOf(entry);
      return (event) => iam.run(fn, () => handler(event));
    };
    // The rule on stopped runner tasks (events.ts routeRunnerStops): a dead runner's event goes to the same Lambda.
    const runnerStopped = load('lambdas/workflow/runner-stopped.handler.ts');
    // Shutdown aborts every execution first: nothing waits for the runners it stops then.
    let shuttingDown = false;
    let taskSeq = 0;
    const bindings: Record<string, TaskBinding> = {};
    for (const [stateName, task] of Object.entries(machine.tasks)) {
      if (task.kind === 'lambda') {
        const handler = load(task.entry);
        const viaInvoke = String(machine.definition.States[stateName].Resource).includes(':states:::lambda:invoke');
        bindings[stateName] = async ({ input }) => {
          // lambda:invoke hands the function {FunctionName, Payload} and expects {Payload, StatusCode} back.
          const out = await handler(viaInvoke ? (input as { Payload: unknown }).Payload : input);
          return viaInvoke ? { Payload: out ?? null, StatusCode: 200 } : out;
        };
        continue;
      }
      bindings[stateName] = async ({ input, executionName }) => {
        const overrides = (input as { Overrides?: { ContainerOverrides?: { Environment?: { Name: string; Value: string }[] }[] } }).Overrides;
        const containerEnv = Object.fromEntries((overrides?.ContainerOverrides ?? []).flatMap((c) => c.Environment ?? []).map((e) => [e.Name, e.Value]));
        for (const [k, v] of Object.entries(containerEnv)) if (template.Resources[v]) containerEnv[k] = localRef(v);
        const taskArn = `arn:aws:ecs:${LOCAL_REGION}:${LOCAL_ACCOUNT}:task/local/${executionName}-${task.phase}-${++taskSeq}`;
        // The job's org decides its tool's uid: read here, as the task starts (on AWS the task itself is the boundary).
        const toolUser: ToolIdentity | undefined = toolUsers?.of(await orgOfJob(containerEnv.STACKJOBS_JOB_ID));
        const child = await spawner.spawn(process.execPath, ['--enable-source-maps', runnerBundle], {
          // The contract comes from the overrides as in AWS; local tuning (shorter grace or timeouts) may still win.
          env: {
            PATH: process.env.PATH ?? '',
            HOME: process.env.HOME ?? tmpdir(),
            // What a Fargate runner has: its AWS settings and endpoints, never the Lambdas' variables (table and secret names).
            ...Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('AWS_') || k === 'STACKJOBS_S3_FORCE_PATH_STYLE')),
            // Its own key: local IAM holds its requests to the runner task role.
            AWS_ACCESS_KEY_ID: runnerCredentials.accessKeyId,
            AWS_SECRET_ACCESS_KEY: runnerCredentials.secretAccessKey,
            STACKJOBS_WORK_DIR: join(dataDir, 'work'),
            ...(toolUser
              ? { STACKJOBS_TOOL_UID: String(toolUser.uid), STACKJOBS_TOOL_GID: String(toolUser.gid), STACKJOBS_LOCAL_STATE_ROOT: join(dataDir, 'state') }
              : {}),
            ...options.runnerEnv,
            ...containerEnv,
            ...localTuning(options.runnerEnv),
            STACKJOBS_TASK_ARN: taskArn,
          },
        });
        runners.set(taskArn, child);
        log(`runner ${task.phase} started for ${containerEnv.STACKJOBS_JOB_ID} (pid ${child.pid})`);
        const forward = (stream: NodeJS.ReadableStream | null) =>
          stream?.on('data', (b: Buffer) =>
            b
              .toString('utf8')
              .split('\n')
              .filter(Boolean)
              .forEach((l) => log(`runner ${l}`)),
          );
        forward(child.stdout);
        forward(child.stderr);
        child.on('exit', (code: number | null, signal: NodeJS.Signals | null) => {
          runners.delete(taskArn);
          log(`runner ${task.phase} for ${containerEnv.STACKJOBS_JOB_ID} exited (${signal ?? code})`);
          // A runner that died without reporting (killed, out of memory) fails its task now, not at the heartbeat
          // timeout: on AWS, ECS's STOPPED event through the runner-stopped Lambda; here the same Lambda with the event
          // ECS would send. A runner that exits 0 or 1 has reported (its stop would find the task closed).
          if (signal || (code ?? 0) > 1) {
            // Its tool (own process group, now orphaned) goes with it, as it would with the task on AWS.
            const killed = killProcessesIn(join(dataDir, 'work', 'stack-jobs', containerEnv.STACKJOBS_JOB_ID));
            if (killed > 0) log(`stopped ${killed} process(es) the lost runner of ${containerEnv.STACKJOBS_JOB_ID} left behind`);
            if (shuttingDown) return;
            runnerStopped(runnerStoppedEvent(taskArn, containerEnv, { code, signal })).then(
              (r) => {
                if ((r as RunnerStoppedOutcome).outcome === 'failed')
                  log(`runner ${task.phase} for ${containerEnv.STACKJOBS_JOB_ID} was lost: its task failed with ${WorkflowErrorName.runnerLost}`);
              },
              (e: Error) => log(`failing the task of the lost runner of ${containerEnv.STACKJOBS_JOB_ID} failed: ${e.name}: ${e.message}`),
            );
          }
        });
        return { TaskArn: taskArn };
      };
    }
    approvalExpired = load('lambdas/handlers/approval-expired.handler.ts');
    driftDetected = load('lambdas/handlers/drift-detected.handler.ts');
    const cleanup = load('lambdas/workflow/execution-ended.handler.ts');
    const sfn = new LocalStepFunctions({
      stateMachineArn,
      definition: machine.definition,
      bindings,
      waitTimeOverrides: options.waitTimeOverrides,
      heartbeatSecondsOverrides: options.heartbeatSecondsOverrides,
      timeoutSecondsOverrides: options.timeoutSecondsOverrides,
      // The aws.states rule: executions that end without running their Catch are cleaned up.
      onExecutionEnded: async ({ executionArn, name, status, input }) => {
        log(`execution ${name} ended ${status}`);
        await cleanup({
          source: 'aws.states',
          'detail-type': 'Step Functions Execution Status Change',
          detail: { executionArn, name, status, stateMachineArn, input: JSON.stringify(input) },
        }).catch((e: Error) => log(`cleanup of ${name} failed: ${e.name}: ${e.message}`));
      },
    });
    engine.sfn = sfn;
    stops.push(async () => {
      shuttingDown = true;
      await sfn.stopAll();
      await stopRunners(runners, graceSeconds(options.runnerEnv), log);
    });
    await recoverJobs(dataDir, names, log);

    const { createApi } = await import('../lambdas/api/api-app');
    const { serviceContextFromEnv } = await import('../lambdas/api/context');
    const { allRoutes } = await import('../lambdas/api/routes');
    const ctx = serviceContextFromEnv('stackjobs-local-api');
    const apiApp = createApi({ routes: allRoutes(ctx), claimNames: ctx.claimNames, logger: ctx.logger, metrics: ctx.metrics });
    const apiFunction = iam.functionOf('lambdas/handlers/api.handler.ts');
    const api: typeof apiApp = Object.assign((event: Parameters<typeof apiApp>[0]) => iam.run(apiFunction, () => apiApp(event)), { router: apiApp.router });
    // The events of the orgs the caller may read (an event's detail names its org; the read permission, as every API
    // route), and only to a caller with a token.
    const eventsRoute = (caller: Principal | undefined): APIGatewayProxyStructuredResultV2 => {
      if (!caller)
        return {
          statusCode: 401,
          headers: { 'content-type': 'application/problem+json' },
          body: JSON.stringify({ type: 'about:blank', title: 'Unauthorized', status: 401, detail: 'a bearer token is required' }),
        };
      const visible = protocol.events.filter((ev) => hasPermission(caller, 'read', String((ev.detail as { org?: unknown } | null)?.org ?? '')));
      return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ items: visible }) };
    };
    const http: HttpApi = await startHttpApi({
      handler: options.wrapApiHandler?.(api) ?? api,
      principals: options.config.principals,
      claimNames: ctx.claimNames,
      port: options.port,
      extraRoutes: { 'GET /v1/events': eventsRoute },
      ...(options.consoleDir ? { consoleDir: options.consoleDir } : {}),
      ...(options.corsOrigins ? { corsOrigins: options.corsOrigins } : {}),
    });
    stops.push(() => http.stop());
    stops.push(async () => db.destroy());
    // Scheduler's stand-in: the fan-out handler the schedules invoke on AWS, at the times they would. Stopped first.
    const driftScheduler = startDriftScheduler({
      listSchedules: catalogSchedules(db, names.catalogTable, log),
      run: load('lambdas/handlers/drift-fan-out.handler.ts'),
      ...options.driftScheduler,
      log,
    });
    stops.push(() => driftScheduler.stop());

    return {
      apiUrl: http.url,
      dataDir,
      runAs: (entry, work) => {
        const fn = iam.functionOf(entry);
        if (!fn) throw new Error(`no deployed function runs ${entry}`);
        return iam.run(fn, work);
      },
      awsEndpoint: protocol.endpoint,
      dynamoEndpoint: dynamoGate.endpoint,
      credentials: runCredentials,
      s3Endpoint: s3Gate.endpoint,
      names,
      events: protocol.events,
      faultProxies,
      sfn,
      runners,
      driftScheduler,
      rotateSecret: (id, value) => {
        if (secrets[id] === undefined) throw new Error(`no local secret ${id} to rotate`);
        previousSecrets[id] = secrets[id];
        secrets[id] = value;
      },
      stop: async () => {
        for (const stop of stops.reverse()) await stop().catch(() => undefined);
        releaseDataDir();
        removeOwnDataDir();
      },
    };
  } catch (e) {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    releaseDataDir();
    removeOwnDataDir();
    throw e;
  }
}
