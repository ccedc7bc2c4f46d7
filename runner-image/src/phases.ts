/**
 * One runner phase, end to end: workspace, module, configuration, credentials, the operations in order
 * (each recorded on the job through the domain's transition rules), plan/outputs artifacts, cleanup.
 * Throws a RunnerError (OperationFailed / Cancelled) naming the operation; returns the task result otherwise.
 */
import { createHash } from 'node:crypto';
import { constants, createReadStream, createWriteStream, existsSync } from 'node:fs';
import { chmod, copyFile, open, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { artifactKeys } from '../../lambdas/adapters/s3/artifact-keys';
import type { ArtifactStore, StoredPlanSummary } from '../../lambdas/adapters/s3/artifact-store';
import type { Clock } from '../../lambdas/domain/ids';
import type { SecretSource } from '../../lambdas/domain/ports';
import {
  boundDrift,
  boundSummary,
  type Drift,
  type OperationName,
  type PlanSummary,
  type RunnerResult,
  type RunnerUpdateResult,
  type StackJob,
} from '../../lambdas/domain/schemas';
import { isTerminal, transitionOperation } from '../../lambdas/domain/status';
import { execCommand, type Exec } from './command';
import type { RunnerConfig } from './config';
import { assertSecretRefsInScope, registerPreviousValue, resolveCredentials, type StsFactory } from './credentials';
import type { DriftFound, IacDriver } from './drivers/driver';
import { driverFor } from './drivers';
import { CancelledError, OperationFailedError, RunnerError } from './errors';
import { cloneModule, restoredModule, type ClonedModule } from './git';
import { archiveWorkspace, restoreWorkspace, type Archived } from './saved-workspace';
import { S3LogSink } from './log-sink';
import { refusedStart } from './task-arn';
import { redactJsonText, redactJsonValue, SecretRegistry } from './redactor';
import { chownTree, claimLocalStateDir, toolUserFrom, type ToolUser } from './tool-user';
import { createWorkspace, lockPlanDir, removeWorkspace, type Workspace } from './workspace';

type SavedWorkspace = NonNullable<NonNullable<StackJob['status']['plan']>['workspace']>;

/** The preview's workspace archived for its update (PhaseRun.archiveForUpdate), or why it is not saved. */
type ArchivedForUpdate = (Archived & { saved: true; sha256: string }) | (Archived & { saved: false }) | { saved: false; failed: string };

/**
 * An approved update's downloads (PhaseRun.prefetch): started beside the job's read (runPhase), since their keys need
 * only the job's ID; what the job then records decides which of them count.
 */
interface Prefetched {
  plan?: Promise<boolean>;
  workspace?: Promise<boolean>;
  summary?: Promise<StoredPlanSummary | undefined>;
}

/** The slice of JobRepository the runner uses. */
export interface JobStore {
  require(id: string): Promise<{ job: StackJob }>;
  update(id: string, mutate: (job: StackJob) => StackJob): Promise<StackJob>;
}

export interface PhaseDeps {
  config: RunnerConfig;
  jobs: JobStore;
  store: ArtifactStore;
  secrets: SecretSource;
  sts: StsFactory;
  clock: Clock;
  /** The environment children start from (the runner's own, with its task token and AWS settings removed). */
  childEnv: NodeJS.ProcessEnv;
  /** Aborted on SIGTERM or when the task is gone. */
  signal: AbortSignal;
  registry: SecretRegistry;
  /** The runner's own diagnostics (stderr); never secret-bearing. */
  warn: (message: string) => void;
  /** The runner's uid (tests); `process.getuid()` otherwise. */
  uid?: number;
  /**
   * Records this task on the job and refuses a cancelled one (task-arn.ts claimPhase); runs before any operation.
   * `also` is applied in the same write when the phase may start.
   */
  claim: (also?: (job: StackJob) => StackJob) => Promise<void>;
  /**
   * Work worth doing while the runner waits on a tool, not before (main: loading the S3 client, which a preview first
   * needs when its init's log closes, and the first heartbeat); called once, when the first tool process has been started.
   */
  whileToolRuns?: () => void;
}

/**
 * Copies `src`, a file in the tool's directory, to `dest` in the runner's: opened without following a link, and
 * refused unless it is a regular file (fails the operation that needs it).
 */
export async function copyRegularFile(src: string, dest: string): Promise<void> {
  const handle = await open(src, constants.O_RDONLY | constants.O_NOFOLLOW).catch((e: NodeJS.ErrnoException) => {
    throw new Error(e.code === 'ELOOP' ? `${basename(src)} is a symbolic link, not the tool's file: refusing to read it` : e.message);
  });
  try {
    if (!(await handle.stat()).isFile()) throw new Error(`${basename(src)} is not a regular file: refusing to read it`);
    await pipeline(handle.createReadStream({ autoClose: false }), createWriteStream(dest, { mode: 0o600, flags: 'wx' }));
  } finally {
    await handle.close();
  }
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Variables that belong to the runner, not the tool: its task token, its own AWS identity and endpoints. */
export function childEnvFrom(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const keep: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    if (k.startsWith('STACKJOBS_')) continue;
    if (k.startsWith('AWS_') && k !== 'AWS_REGION' && k !== 'AWS_DEFAULT_REGION') continue;
    if (k.startsWith('ECS_CONTAINER_METADATA')) continue;
    keep[k] = v;
  }
  return { ...keep, TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1' };
}

class PhaseRun {
  private readonly durations: Record<string, number> = {};
  private readonly recorded = new Set<OperationName>();
  private ws: Workspace | undefined;
  private readonly toolUser: ToolUser | undefined;

  constructor(
    private readonly deps: PhaseDeps,
    private job: StackJob,
    /** The workspace and downloads an approved update started before its job was read (runPhase). */
    private readonly early?: { ws: Workspace; fetched: Prefetched },
  ) {
    this.toolUser = toolUserFrom(deps.config, deps.uid ?? process.getuid?.(), deps.warn);
    this.logPhase = deps.config.STACKJOBS_PHASE;
    this.whileToolRuns = deps.whileToolRuns;
  }

  /** PhaseDeps.whileToolRuns until the first tool starts. */
  private whileToolRuns: (() => void) | undefined;

  private get jobId() {
    return this.job.metadata.id;
  }
  private get phase() {
    return this.deps.config.STACKJOBS_PHASE;
  }
  /** Where operations log: the configured phase, until a one-task job hands over to its update. */
  private logPhase: 'preview' | 'update';

  /**
   * Status writes are best effort: a failed write must not fail (or hide) the infrastructure change itself. A change
   * recorded with `defer` (an operation's completion) is held and written with the next one (the next operation's
   * start, the drift, the plan, the outputs), or when the phase ends: one job write instead of two, each a round trip
   * and the whole item's write units.
   */
  private async record(mutate: (job: StackJob) => StackJob, o: { defer?: boolean; required?: boolean } = {}): Promise<void> {
    const held = this.held;
    const change = held ? (job: StackJob) => mutate(held(job)) : mutate;
    const required = this.heldRequired || o.required === true;
    this.held = undefined;
    this.heldRequired = false;
    if (o.defer) {
      this.held = change;
      this.heldRequired = required;
      return;
    }
    try {
      this.job = await this.deps.jobs.update(this.jobId, (job) => (isTerminal(job) ? job : change(job)));
    } catch (e) {
      // A change the phase cannot go on without (the module's pin) fails it: a preview changed nothing yet.
      if (required) throw new OperationFailedError('runner', null, `could not record the job's status: ${(e as Error).name}`);
      this.deps.warn(`could not record status on ${this.jobId}: ${(e as Error).message}`);
    }
  }

  /** A status change waiting for the next write (record's `defer`). */
  private held: ((job: StackJob) => StackJob) | undefined;
  /** Whether the write that carries `held` must succeed (record's `required`). */
  private heldRequired = false;

  /**
   * Writes a held status change now: before a write that decides on the job, and before the phase reports. At the
   * phase's end (`bestEffort`) a failed write only warns: the phase's own outcome is what it reports.
   */
  private async flushRecords(o: { bestEffort?: boolean } = {}): Promise<void> {
    if (o.bestEffort) this.heldRequired = false;
    if (this.held) await this.record((job) => job);
  }

  /**
   * Runs one operation with its own log sink. The job's operation status moves only if it is still pending:
   * the update phase's `init` re-runs an operation the preview already completed, and is logged, not re-recorded.
   */
  private async operation<T>(name: OperationName, body: (exec: Exec, note: (line: string) => Promise<void>) => Promise<T>): Promise<T> {
    const started = Date.now();
    const op = this.job.status.operations.find((o) => o.name === name);
    if (op?.status === 'pending') {
      await this.record((j) => transitionOperation(j, name, 'running', 'tbd', this.deps.clock.now()));
      this.recorded.add(name);
    }
    const c = this.deps.config;
    const sink = new S3LogSink(this.deps.store, this.jobId, this.logPhase, name, {
      chunkBytes: c.STACKJOBS_LOG_CHUNK_BYTES,
      flushMs: c.STACKJOBS_LOG_FLUSH_SECONDS * 1000,
    });
    const exec: Exec = (spec) => {
      // Queued behind the spawn (execCommand starts the tool before it first waits on I/O).
      if (this.whileToolRuns) setImmediate(this.whileToolRuns);
      this.whileToolRuns = undefined;
      return execCommand(
        {
          operation: name,
          bin: this.binFor(),
          // Read at call time: init learns the module directory only after cloning.
          cwd: this.cwd || this.ws!.module,
          env: this.env,
          timeoutMs: c.STACKJOBS_OPERATION_TIMEOUT_SECONDS * 1000,
          graceMs: c.STACKJOBS_GRACE_SECONDS * 1000,
          signal: this.deps.signal,
          registry: this.deps.registry,
          sink,
          ...(this.toolUser ? { user: this.toolUser } : {}),
        },
        spec,
      );
    };
    let outcome: { result: 'succeeded' | 'failed' | 'cancelled'; errors: string[]; summary?: PlanSummary } = { result: 'succeeded', errors: [] };
    try {
      const note = (line: string) => sink.write(Buffer.from(`[stack-jobs] ${this.deps.registry.redact(line)}\n`));
      const value = await body(exec, note);
      if (this.deps.signal.aborted) throw new CancelledError(name, null, `cancelled after ${name}`);
      if (value && typeof value === 'object' && 'summary' in value) outcome.summary = (value as { summary: PlanSummary }).summary;
      return value;
    } catch (e) {
      const err = this.asRunnerError(e, name);
      outcome = { result: err instanceof CancelledError ? 'cancelled' : 'failed', errors: [err.message] };
      await sink.write(Buffer.from(`\n[stack-jobs] ${name} ${outcome.result}: ${err.message}\n`)).catch(() => undefined);
      throw err;
    } finally {
      this.durations[name] = (this.durations[name] ?? 0) + (Date.now() - started);
      // Logs first: whatever happened, what the tool printed is in S3 before the status says it ended. An operation
      // whose status this task does not record (an update's init) does not wait for its log: the phase does, at its end.
      const closed = sink.close().catch((e: Error) => this.deps.warn(`log upload for ${name} failed: ${e.name}: ${e.message}`));
      if (this.recorded.has(name)) await closed;
      else this.unrecordedLogs.push(closed);
      if (this.recorded.has(name)) {
        const { result, errors, summary } = outcome;
        const at = this.deps.clock.now();
        await this.record((j) => transitionOperation(j, name, 'completed', result, at, { errors, ...(summary ? { summary } : {}) }), { defer: true });
      }
    }
  }

  private env: NodeJS.ProcessEnv = {};

  /** Anything thrown that is not already a RunnerError becomes an OperationFailed with a redacted message. */
  asRunnerError(e: unknown, operation: string): RunnerError {
    if (e instanceof RunnerError) return e;
    if (this.deps.signal.aborted) return new CancelledError(operation, null, `cancelled during ${operation}`);
    const message = e instanceof Error ? `${e.name === 'Error' ? '' : `${e.name}: `}${e.message}` : String(e);
    return new OperationFailedError(operation, null, this.deps.registry.redact(message));
  }

  private createDriver(ws: Workspace, moduleDir: string, backendConfig: string[], pulumiBackendUrl: string): IacDriver {
    const paths = {
      planFile: join(ws.state, 'plan.bin'),
      appliedPlanFile: join(ws.plan, 'plan.bin'),
      // What the runner captures from the tool's output is written where only the runner writes (Workspace.runner):
      // never through a link the tool left in its own directory, and read back as it was written.
      planJsonFile: join(ws.runner, 'plan.json'),
      refreshFile: join(ws.state, 'refresh.bin'),
      refreshJsonFile: join(ws.runner, 'refresh.json'),
      outputsFile: join(ws.runner, 'outputs.json'),
    };
    return driverFor(this.job.spec.essentials.provisioner).create({
      job: this.job,
      moduleDir,
      configDir: ws.config,
      backendConfig,
      pulumiBackendUrl,
      paths,
      config: this.deps.config,
    });
  }

  async run(): Promise<RunnerResult> {
    const { config } = this.deps;
    const e = this.job.spec.essentials;
    const ops = this.job.spec.operations;
    const destroy = ops.includes('destroy');
    const finalOp: OperationName = destroy ? 'destroy' : 'apply';
    const previews = e.flowControlPolicy.previewBeforeUpdate;
    const logPrefix = artifactKeys.logPrefix(this.jobId);

    if (this.phase === 'preview' && !previews) {
      throw new OperationFailedError('plan', null, "the job's flow control policy has no preview: run the update phase only");
    }

    this.ws = this.early?.ws ?? (await createWorkspace(config.STACKJOBS_WORK_DIR, this.jobId));
    const ws = this.ws;
    try {
      // Traverse-only for others (no listing): a tool running under its own uid must reach its workspace.
      if (this.toolUser) await chmod(dirname(ws.root), 0o711);
      // The plan the tool makes (preview), or the approved one an update downloads into the runner's plan directory.
      const planFile = join(this.phase === 'update' ? ws.plan : ws.state, 'plan.bin');
      // An approved update downloads the plan and the saved workspace while it claims the phase: reading changes
      // nothing, and a claim refused (a cancel) still waits for them before the workspace is removed. An update that
      // restores a saved workspace runs no tool before its apply: its claim is the write that starts the apply
      // (claimUpdate), one job write instead of two; should the workspace be gone, it claims before cloning.
      const fetched = this.phase === 'update' && previews ? this.prefetch() : {};
      const restores = this.savedWorkspace() !== undefined;
      // Every early download is waited for, used or not: none goes on writing beside the tool.
      const early = Object.values(this.early?.fetched ?? {});
      const [claim] = await Promise.allSettled([restores ? Promise.resolve() : this.claim(), ...Object.values(fetched), ...early]);
      if (claim.status === 'rejected') throw claim.reason;
      this.fetched = fetched;
      // An early workspace download the job does not use (none recorded, or a tool that does not reuse it) goes now.
      if (this.early?.fetched.workspace && !fetched.workspace)
        await rm(join(ws.runner, 'workspace.tar.gz'), { force: true }).catch((e: Error) => this.deps.warn(`could not remove an unused download: ${e.name}`));
      // An update that claims late still refuses at once a cancel it read with its job: no secret read, no role
      // assumed, nothing restored. (One recorded later is refused by the claim that would start the apply.)
      const refused = restores ? refusedStart(this.job, this.phase) : undefined;
      if (refused) throw refused;
      // Update of an approved plan: the plan is verified before anything else runs.
      let approvedDigest: string | undefined;
      if (this.phase === 'update' && previews) {
        approvedDigest = await this.operationGuard(finalOp, () => this.verifyPlan(planFile));
      }

      let driver!: IacDriver;
      await this.operation('init', async (exec, note) => {
        const org = this.job.metadata.org;
        // Every reference is checked before any secret is read: a snapshot naming another org's secret reads nothing.
        assertSecretRefsInScope(e, org);
        const pinned = this.job.status.moduleCommit;
        // An approved update restores the preview's workspace when it was saved: no clone, no init.
        const saved = this.savedWorkspace();
        const restored = saved ? await this.restoreSavedWorkspace(saved, pinned!, note) : undefined;
        let cloned = restored;
        if (!cloned) {
          if (!this.claimed) await this.claim();
          const gitRef = e.iacModule.gitTokenSecretRef;
          const [token] = gitRef ? await Promise.all([this.deps.secrets.get(gitRef), registerPreviousValue(this.deps, gitRef)]) : [undefined];
          this.deps.registry.add(token);
          cloned = await cloneModule(e.iacModule, join(ws.module, 'repo'), ws.config, token, pinned);
          await note(`module ${e.iacModule.gitRepo} ${e.iacModule.branch} at ${cloned.commit}${pinned ? ' (the commit the preview used)' : ''}`);
        }
        const moduleDir = cloned.dir;
        const commit = cloned.commit;
        // The preview's commit is what an update may apply: recorded for sure, with the next status write (the next
        // operation's start), which then fails the preview if it fails (the preview changed nothing yet), and before
        // any plan is recorded. A first clone in an update is recorded as any status is, best effort.
        const pin = (j: StackJob) => (j.status.moduleCommit || isTerminal(j) ? j : { ...j, status: { ...j.status, moduleCommit: commit } });
        if (!pinned) await this.record(pin, this.phase === 'preview' ? { defer: true, required: true } : {});
        const creds = await resolveCredentials(e, { jobId: this.jobId, org }, ws.state, {
          secrets: this.deps.secrets,
          sts: this.deps.sts,
          registry: this.deps.registry,
          sessionSeconds: this.deps.config.STACKJOBS_OPERATION_TIMEOUT_SECONDS,
          ...(this.deps.config.STACKJOBS_DEPLOYMENT_ID ? { deploymentId: this.deps.config.STACKJOBS_DEPLOYMENT_ID } : {}),
          ...(this.deps.config.STACKJOBS_STATE_ROLE_ARN ? { stateRoleArn: this.deps.config.STACKJOBS_STATE_ROLE_ARN } : {}),
          warn: this.deps.warn,
        });
        this.env = { ...this.deps.childEnv, HOME: ws.state, ...creds.env };
        driver = this.createDriver(ws, moduleDir, creds.backendConfig, creds.pulumiBackendUrl);
        this.cwd = moduleDir;
        await driver.configure();
        if (this.toolUser) {
          await chownTree(ws.root, this.toolUser);
          await lockPlanDir(ws, this.toolUser);
          if (creds.localStatePath) await claimLocalStateDir(creds.localStatePath, config.STACKJOBS_LOCAL_STATE_ROOT, this.toolUser);
        }
        if (!restored) await driver.init(exec);
      });

      // Refreshing only ever looks: the refresh operation reports drift, and the plan (or a direct apply) refreshes
      // again in memory. Nothing but the apply writes state. A job planned without a refresh operation (a Terraform or
      // OpenTofu plan: planner.ts, planReportsDrift) records the drift its plan's own refresh found instead.
      const refreshes = !e.flowControlPolicy.skipRefresh;
      const refreshOperation = refreshes && this.job.spec.operations.includes('refresh');
      if (refreshOperation && (this.phase === 'preview' || !previews)) {
        const drift = await this.operation('refresh', async (exec) => {
          const found = await driver.refresh(exec);
          // The refresh's document, masked like the plan's, for reading the drift attribute by attribute (Terraform, OpenTofu).
          const refreshJson = join(ws.runner, 'refresh.json');
          if (existsSync(refreshJson)) {
            const masked = driver.downloadablePlan(JSON.parse(await readFile(refreshJson, 'utf8')) as Record<string, unknown>);
            // Written where only the runner writes (Workspace.runner): what is uploaded is what was redacted.
            const redacted = join(ws.runner, 'refresh.masked.json');
            await writeFile(redacted, redactJsonText(masked, this.deps.registry), { mode: 0o600 });
            await this.deps.store.uploadFile(artifactKeys.refreshJson(this.jobId), redacted, 'application/json');
          }
          return found;
        });
        const found = this.driftStatus(drift);
        await this.record((j) => ({ ...j, status: { ...j.status, drift: found } }));
      }

      // A drift check only looks: init and the refresh-only plan above, recorded on the job; no plan, nothing applied.
      if (this.job.spec.driftCheck) return { phase: 'preview', hasChanges: false, logPrefix, durations: { ...this.durations } };

      if (this.phase === 'preview') {
        const planKey = artifactKeys.planBinary(this.jobId);
        let savedWorkspace: SavedWorkspace | undefined;
        let drift: Drift | undefined;
        // A plan an approver may look at: its update restores the workspace init made instead of cloning and initialising
        // again. Archived and checked while the tool plans (saved-workspace.ts checks the archive itself, whatever module
        // code writes meanwhile); uploaded only for a plan with changes, the one kind that waits for an approver.
        const mayPause = config.STACKJOBS_THEN_UPDATE !== 'true' && driverFor(e.provisioner).reusesWorkspace;
        const planAndStore = async (exec: Exec, note: (line: string) => Promise<void>, archiving: Promise<ArchivedForUpdate> | undefined) => {
          const planned = await driver.plan(exec, { destroy, refresh: refreshes });
          if (!refreshOperation && planned.drift) drift = this.driftStatus(planned.drift);
          // Large plans stay in S3 (plan.json); what travels (task result, execution state, job item) is bounded.
          // The tool wrote the plan in its own directory: copied from there without following a link (a link would
          // have the runner read and upload whatever it points to), and the copy is what is hashed and uploaded.
          const planCopy = join(ws.runner, 'plan.bin');
          await copyRegularFile(planFile, planCopy);
          const digest = await sha256File(planCopy);
          const planJsonFile = join(ws.runner, 'plan.json');
          const planJson = JSON.parse(await readFile(planJsonFile, 'utf8')) as Record<string, unknown>;
          // The downloadable plan JSON shows sensitive values as "***", and so is every known secret value (credential
          // material that reached a variable or an output) wherever it appears. The binary plan is uploaded byte-exact:
          // it is what the approved digest covers and what apply runs.
          const masked = driver.downloadablePlan(planJson);
          const redactedPlanJson = join(ws.runner, 'plan.masked.json');
          await writeFile(redactedPlanJson, redactJsonText(masked, this.deps.registry), { mode: 0o600 });
          // Resource addresses reach the job record and the task result: a for_each key could carry a secret too.
          // Redacted whole, then bounded (boundDrift's reason): the result, the job item and the task result carry the bounded one.
          const summaryRedacted = boundSummary(redactJsonValue(planned.summary, this.deps.registry, { stringsOnly: true }) as PlanSummary);
          const stored: StoredPlanSummary = { summary: summaryRedacted, hasChanges: planned.hasChanges, digest };
          // Side by side: the objects are independent, and none is read before the job records the plan (below).
          [savedWorkspace] = await Promise.all([
            planned.hasChanges && archiving ? this.saveWorkspace(archiving, note) : undefined,
            this.deps.store.uploadFile(planKey, planCopy),
            this.deps.store.uploadFile(artifactKeys.planJson(this.jobId), redactedPlanJson, 'application/json'),
            this.deps.store.putJson(artifactKeys.planSummary(this.jobId), stored),
            this.deps.store.putText(artifactKeys.planDigest(this.jobId), `${digest}  plan.bin\n`),
          ]);
          return stored;
        };
        const { summary, hasChanges, digest } = await this.operation('plan', async (exec, note) => {
          const archiving = mayPause ? quiet(this.archiveForUpdate()) : undefined;
          try {
            return await planAndStore(exec, note, archiving);
          } finally {
            // Settled before the plan's operation ends, used or not: nothing goes on writing beside the next tool.
            await Promise.allSettled([archiving]);
            await rm(join(ws.runner, 'workspace.tar.gz'), { force: true });
          }
        });
        await this.record((j) => ({
          ...j,
          status: {
            ...j.status,
            plan: { digest, key: planKey, summary, ...(savedWorkspace ? { workspace: savedWorkspace } : {}) },
            ...(drift ? { drift } : {}),
            logPrefix,
          },
        }));
        const preview: RunnerResult = { phase: 'preview', hasChanges, summary, planDigest: digest, planKey, logPrefix, durations: { ...this.durations } };
        if (config.STACKJOBS_THEN_UPDATE !== 'true' || !hasChanges) return preview;
        // One task: the plan just made is applied here, unless the job was cancelled before its update began.
        await this.operationGuard(finalOp, () => this.claimUpdate(finalOp));
        // The file applied is the file hashed: the hashed copy goes where only the runner writes it (lockPlanDir), and
        // is checked again there, as the update phase checks the approved plan it downloads.
        const applied = join(ws.plan, 'plan.bin');
        await copyFile(join(ws.runner, 'plan.bin'), applied);
        await lockPlanDir(ws, this.toolUser);
        const current = await sha256File(applied);
        if (current !== digest)
          await this.operation(finalOp, async () => {
            throw new OperationFailedError(finalOp, null, `refusing to ${finalOp}: the plan file changed after it was hashed; nothing was run`);
          });
        for (const name of Object.keys(this.durations)) delete this.durations[name];
        const then = await this.update(driver, { destroy, previews, refreshes, approvedDigest: digest, stored: { summary, hasChanges, digest } });
        return { ...preview, then };
      }

      const stored = previews ? await (this.fetched.summary ?? this.deps.store.getJson<StoredPlanSummary>(artifactKeys.planSummary(this.jobId))) : undefined;
      // The phase was claimed before init; a cancel recorded since (init can take minutes) still keeps the apply from
      // starting, as the one-task hand-over does. Once the apply has started, a cancel only records itself.
      await this.operationGuard(finalOp, () => this.claimUpdate(finalOp));
      return await this.update(driver, { destroy, previews, refreshes, ...(approvedDigest ? { approvedDigest } : {}), ...(stored ? { stored } : {}) });
    } finally {
      await this.flushRecords({ bestEffort: true });
      await Promise.all(this.unrecordedLogs);
      // Early downloads the job did not use are still let finish: none writes into a removed workspace.
      await Promise.allSettled(Object.values(this.early?.fetched ?? {}));
      await removeWorkspace(ws, this.toolUser).catch((err: Error) => this.deps.warn(`could not remove workspace: ${err.message}`));
    }
  }

  /** Drift as the job records it: redacted whole, then cut (a secret in an address the cut splits would no longer be recognised). */
  private driftStatus(found: DriftFound): Drift {
    return { checkedAt: this.deps.clock.now().toISOString(), ...boundDrift(redactJsonValue(found, this.deps.registry, { stringsOnly: true }) as DriftFound) };
  }

  /** Log uploads of operations this task does not record, awaited before the phase returns (or throws). */
  private readonly unrecordedLogs: Promise<void>[] = [];

  private cwd = '';

  /** Downloads started before the claim (update phase): the files settle to whether the object was there. */
  private fetched: Prefetched = {};

  /** Whether this task's claim on the phase was written (claim, or claimUpdate for an update that restores). */
  private claimed = false;

  /** The preview's saved workspace an approved update restores (the module pinned, the tool able to reuse it). */
  private savedWorkspace(): SavedWorkspace | undefined {
    const e = this.job.spec.essentials;
    if (this.phase !== 'update' || !e.flowControlPolicy.previewBeforeUpdate || !this.job.status.moduleCommit) return undefined;
    return driverFor(e.provisioner).reusesWorkspace ? this.job.status.plan?.workspace : undefined;
  }

  /**
   * Which of the downloads runPhase started (an approved update's) this job uses: the plan when the job recorded one,
   * the saved workspace when it recorded one this tool reuses, and the plan's summary. An update without an approved
   * digest started none: verifyPlan refuses it before anything would be read.
   */
  private prefetch(): Prefetched {
    const early = this.early?.fetched;
    if (!early) return {};
    const saved = this.savedWorkspace();
    const archive = join(this.ws!.runner, 'workspace.tar.gz');
    return {
      ...(this.job.status.plan ? { plan: early.plan } : {}),
      // The early download fetched the key a preview saves to; a workspace recorded elsewhere is fetched from there
      // (into the same file, once the early download has let go of it).
      ...(saved
        ? {
            workspace:
              saved.key === artifactKeys.savedWorkspace(this.jobId)
                ? early.workspace
                : quiet(Promise.allSettled([early.workspace]).then(() => this.deps.store.downloadFile(saved.key, archive))),
          }
        : {}),
      summary: early.summary,
    };
  }

  /**
   * The phase claimed for this task (PhaseDeps.claim), then the job as that write left it. A preview's init starts
   * with the claim (operation() then finds it running and records its end): one job write fewer per preview.
   */
  private async claim(): Promise<void> {
    const first: OperationName | undefined = this.phase === 'preview' ? 'init' : undefined;
    const pending = (j: StackJob) => first !== undefined && j.status.operations.find((o) => o.name === first)?.status === 'pending';
    await this.deps.claim((j) => (pending(j) ? transitionOperation(j, first!, 'running', 'tbd', this.deps.clock.now()) : j));
    this.claimed = true;
    this.job = (await this.deps.jobs.require(this.jobId)).job;
    if (first && this.job.status.operations.find((o) => o.name === first)?.status === 'running') this.recorded.add(first);
  }

  /**
   * Archives the module directory (the clone at its commit, `.terraform/`, the lock file) for the update, checked for
   * secret values (saved-workspace.ts), with its SHA-256. Never throws: a workspace that cannot be archived is not saved.
   */
  private async archiveForUpdate(): Promise<ArchivedForUpdate> {
    const archive = join(this.ws!.runner, 'workspace.tar.gz');
    try {
      const archived = await archiveWorkspace(join(this.ws!.module, 'repo'), archive, this.deps.registry);
      return archived.saved ? { ...archived, sha256: await sha256File(archive) } : archived;
    } catch (e) {
      return { saved: false, failed: this.deps.registry.redact((e as Error).message) };
    }
  }

  /**
   * Saves the archived workspace beside the plan. Best effort: a workspace that is too large, holds a secret value, or
   * fails to archive or upload is not saved, and the update initialises again.
   */
  private async saveWorkspace(archiving: Promise<ArchivedForUpdate>, note: (line: string) => Promise<void>): Promise<SavedWorkspace | undefined> {
    const archive = join(this.ws!.runner, 'workspace.tar.gz');
    const archived = await archiving;
    try {
      if (!archived.saved) {
        await note(
          'failed' in archived
            ? `the workspace could not be saved (${archived.failed}): the update clones and initialises again`
            : `the workspace is not saved for the update (${archived.why}): the update clones and initialises again`,
        );
        return undefined;
      }
      const key = artifactKeys.savedWorkspace(this.jobId);
      await this.deps.store.uploadFile(key, archive, 'application/gzip');
      await note(`saved the workspace for the update (${archived.bytes} bytes, SHA-256 ${archived.sha256})`);
      return { key, sha256: archived.sha256, bytes: archived.bytes };
    } catch (e) {
      await note(`the workspace could not be saved (${this.deps.registry.redact((e as Error).message)}): the update clones and initialises again`);
      return undefined;
    } finally {
      await rm(archive, { force: true });
    }
  }

  /**
   * Restores the preview's saved workspace for the update, after checking its SHA-256 against the one the preview
   * recorded (a mismatch refuses the update: nothing runs). A workspace that is gone means cloning and initialising again.
   */
  private async restoreSavedWorkspace(saved: SavedWorkspace, pin: string, note: (line: string) => Promise<void>): Promise<ClonedModule | undefined> {
    const ws = this.ws!;
    const archive = join(ws.runner, 'workspace.tar.gz');
    try {
      if (!(await (this.fetched.workspace ?? this.deps.store.downloadFile(saved.key, archive)))) {
        await note("the preview's saved workspace is gone: cloning and initialising again");
        return undefined;
      }
      const actual = await sha256File(archive);
      if (actual !== saved.sha256)
        throw new OperationFailedError(
          'init',
          null,
          `refusing: the saved workspace's SHA-256 ${actual} is not ${saved.sha256}, recorded at preview; nothing was run`,
        );
      await restoreWorkspace(archive, join(ws.module, 'repo'));
      const restored = await restoredModule(this.job.spec.essentials.iacModule, join(ws.module, 'repo'), pin);
      await note(
        `restored the preview's workspace: module at ${pin} with .terraform and the dependency lock file (${saved.bytes} bytes, SHA-256 verified): no clone, no init`,
      );
      return restored;
    } finally {
      await rm(archive, { force: true });
    }
  }

  /** The apply (or destroy) of the previewed plan, or a direct apply when the policy has no preview; outputs after it. */
  private async update(
    driver: IacDriver,
    o: { destroy: boolean; previews: boolean; refreshes: boolean; approvedDigest?: string; stored?: StoredPlanSummary },
  ): Promise<RunnerUpdateResult> {
    const finalOp: OperationName = o.destroy ? 'destroy' : 'apply';
    const outputsKey = artifactKeys.outputs(this.jobId);
    const logPrefix = artifactKeys.logPrefix(this.jobId);
    const applied = await this.operation(finalOp, async (exec) => {
      const outcome = o.previews
        ? await driver.applyPlan(exec, { destroy: o.destroy })
        : await driver.applyDirect(exec, { destroy: o.destroy, refresh: o.refreshes });
      // Outputs belong to the apply: a failure reading them fails the operation that produced them.
      // Values Terraform marks sensitive are kept (readers mask them); known secret values become "***" everywhere.
      const outputsFile = join(this.ws!.runner, 'outputs.redacted.json');
      await writeFile(outputsFile, redactJsonText(await driver.outputs(exec), this.deps.registry), { mode: 0o600 });
      await this.deps.store.uploadFile(outputsKey, outputsFile, 'application/json');
      return outcome;
    });
    const hasChanges = applied.hasChanges ?? o.stored?.hasChanges ?? true;
    const summary = o.stored?.summary;
    await this.record((j) => ({ ...j, status: { ...j.status, outputsKey, logPrefix } }));
    return {
      phase: 'update',
      hasChanges,
      ...(summary ? { summary } : {}),
      ...(o.approvedDigest ? { planDigest: o.approvedDigest, planKey: artifactKeys.planBinary(this.jobId) } : {}),
      outputsKey,
      logPrefix,
      durations: { ...this.durations },
    };
  }

  /**
   * The last check before an update applies (a one-task job's hand-over from preview to update, an update task after
   * its init), in one conditional write: the task is recorded as updating, and the apply (or destroy) as running,
   * unless a cancel was recorded first. Whichever write lands first decides: a cancel that finds the task updating
   * only records itself (an update is never interrupted), and a cancel that got in first means nothing is applied.
   * The apply's start rides on this write (operation() then finds it running): one job write fewer per update.
   */
  private async claimUpdate(finalOp: OperationName): Promise<void> {
    if (this.deps.signal.aborted) throw new CancelledError('runner', null, 'cancelled before the update began; nothing was applied');
    const start = (j: StackJob) =>
      j.status.operations.find((o) => o.name === finalOp)?.status === 'pending' ? transitionOperation(j, finalOp, 'running', 'tbd', this.deps.clock.now()) : j;
    if (!this.claimed) {
      // An update that restored its workspace claims its phase here: the task recorded and the apply started in one
      // write, refused as the claim is (claimPhase) when a cancel or the job's end came first.
      await this.flushRecords();
      await this.deps.claim(start);
      this.claimed = true;
      this.job = (await this.deps.jobs.require(this.jobId)).job;
      if (this.job.status.operations.find((o) => o.name === finalOp)?.status === 'running') this.recorded.add(finalOp);
      this.logPhase = 'update';
      return;
    }
    // A held status change (the last operation's ending) rides on this write. The write always changes the job, so
    // it is conditional on the revision this task last saw: a cancel written since makes it read again and refuse.
    const held = this.held;
    this.held = undefined;
    // This write throws when it fails: what it carries is recorded for sure or the update does not begin.
    this.heldRequired = false;
    let refused: string | undefined;
    this.job = await this.deps.jobs.update(this.jobId, (j) => {
      if (isTerminal(j)) {
        refused = 'the job ended';
        return j;
      }
      const base = held ? held(j) : j;
      refused = j.status.cancelRequested ? `cancelled by ${j.status.cancelRequested.by}` : undefined;
      if (refused) return base;
      return start({
        ...base,
        status: { ...base.status, ...(base.status.runnerTask ? { runnerTask: { ...base.status.runnerTask, phase: 'update' as const } } : {}) },
      });
    });
    if (refused) throw new CancelledError('runner', null, `${refused} before the update began; nothing was applied`);
    if (this.job.status.operations.find((o) => o.name === finalOp)?.status === 'running') this.recorded.add(finalOp);
    this.logPhase = 'update';
  }

  private binFor(): string {
    return driverFor(this.job.spec.essentials.provisioner).bin(this.deps.config);
  }

  /** Runs runner-side work (no tool) attributed to an operation, for error naming only. */
  private async operationGuard<T>(name: OperationName, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (e) {
      throw this.asRunnerError(e, name);
    }
  }

  /**
   * Downloads the approved plan and checks it three ways: the digest the state machine passed, the digest the
   * job recorded at preview, and the file's own SHA-256 must all agree. Any doubt refuses the apply.
   */
  private async verifyPlan(planFile: string): Promise<string> {
    const finalOp: OperationName = this.job.spec.operations.includes('destroy') ? 'destroy' : 'apply';
    // Recorded as the operation failing (running -> failed) so the job shows why, with nothing executed.
    const refuse = (why: string): Promise<never> =>
      this.operation(finalOp, async () => {
        throw new OperationFailedError(finalOp, null, `refusing to ${finalOp}: ${why}; nothing was run`);
      });
    const expected = this.deps.config.STACKJOBS_PLAN_DIGEST;
    const recorded = this.job.status.plan?.digest;
    if (!expected) return refuse('no approved plan digest was given (STACKJOBS_PLAN_DIGEST)');
    if (!recorded) return refuse('the job has no recorded plan');
    if (expected !== recorded) return refuse(`the approved digest ${expected} is not the job's recorded plan digest ${recorded}`);
    if (!(await (this.fetched.plan ?? this.deps.store.downloadFile(artifactKeys.planBinary(this.jobId), planFile)))) return refuse('the saved plan is missing');
    const actual = await sha256File(planFile);
    if (actual !== expected) return refuse(`the saved plan's SHA-256 ${actual} does not match the approved digest ${expected}`);
    return actual;
  }
}

/** Awaited where it is used, which reports its failure there; until then a rejection is not unhandled. */
function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/** Runs the configured phase for the job. */
export async function runPhase(deps: PhaseDeps): Promise<RunnerResult> {
  const c = deps.config;
  const id = c.STACKJOBS_JOB_ID;
  // An approved update (the state machine passes the approved digest) needs the plan, its summary and the saved
  // workspace, whose keys follow from the job's ID alone: downloading them beside the job's read takes them off the way
  // to the apply. Reading changes nothing; the job read next decides what is used, and everything is checked first.
  if (c.STACKJOBS_PHASE !== 'update' || !c.STACKJOBS_PLAN_DIGEST) return new PhaseRun(deps, (await deps.jobs.require(id)).job).run();
  const ws = await createWorkspace(c.STACKJOBS_WORK_DIR, id);
  const fetched: Prefetched = {
    plan: quiet(deps.store.downloadFile(artifactKeys.planBinary(id), join(ws.plan, 'plan.bin'))),
    workspace: quiet(deps.store.downloadFile(artifactKeys.savedWorkspace(id), join(ws.runner, 'workspace.tar.gz'))),
    summary: quiet(deps.store.getJson<StoredPlanSummary>(artifactKeys.planSummary(id))),
  };
  let job: StackJob;
  try {
    job = (await deps.jobs.require(id)).job;
  } catch (e) {
    await Promise.allSettled(Object.values(fetched));
    await removeWorkspace(ws).catch((err: Error) => deps.warn(`could not remove workspace: ${err.message}`));
    throw e;
  }
  return new PhaseRun(deps, job, { ws, fetched }).run();
}
