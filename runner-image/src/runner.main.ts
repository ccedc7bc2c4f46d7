/**
 * The runner task's program: runs one phase of one stack job and reports to Step Functions. boot.ts (the container's
 * entrypoint) loads it and calls start(). The environment contract is in runner-image/README.md.
 */
import './zod-jitless';
import * as clients from '../../lambdas/adapters/aws/clients';
import { stsSdk } from '../../lambdas/adapters/aws/sdk';
import { SecretsManagerSource } from '../../lambdas/adapters/aws/secrets';
import { JobRepository } from '../../lambdas/adapters/dynamodb/job-repository';
import { ArtifactStore } from '../../lambdas/adapters/s3/artifact-store';
import { systemClock } from '../../lambdas/domain/ids';
import type { RunnerResult } from '../../lambdas/domain/schemas';
import { readRunnerConfig } from './config';
import { CancelledError, OperationFailedError, RunnerError } from './errors';
import { TrackedJobStore } from './job-store';
import { childEnvFrom, runPhase } from './phases';
import { SecretRegistry } from './redactor';
import { claimPhase, resolveTaskArn } from './task-arn';
import { Heartbeat, TaskReporter } from './task-reporter';

/**
 * The first heartbeat's latest time (Heartbeat.start): long before the state machine's five-minute heartbeat window
 * ends, and after the first tool starts in any phase that gets that far in less.
 */
const FIRST_BEAT_MS = 5000;

const warn = (message: string) => process.stderr.write(`[stack-jobs runner] ${message}\n`);

async function main(): Promise<number> {
  const config = readRunnerConfig();
  // The token authorizes completing this task: it lives only in the reporter from here on, never in a child's environment.
  const taskToken = config.STACKJOBS_TASK_TOKEN;
  delete process.env.STACKJOBS_TASK_TOKEN;
  const reporter = new TaskReporter(clients.sfn, taskToken);
  const registry = new SecretRegistry();
  registry.add(taskToken);

  const abort = new AbortController();
  let cancelReason: string | undefined;
  let taskGone = false;
  const cancel = (reason: string) => {
    if (abort.signal.aborted) return;
    cancelReason = reason;
    warn(`stopping: ${reason}`);
    abort.abort();
  };
  process.on('SIGTERM', () => cancel('SIGTERM received'));
  process.on('SIGINT', () => cancel('SIGINT received'));

  const heartbeat = new Heartbeat(
    reporter,
    config.STACKJOBS_HEARTBEAT_SECONDS * 1000,
    (reason) => {
      taskGone = true;
      cancel(reason);
    },
    warn,
  );
  heartbeat.start(FIRST_BEAT_MS);

  let outcome: { ok: true; result: RunnerResult } | { ok: false; error: RunnerError };
  try {
    const jobs = new TrackedJobStore(new JobRepository(clients.dynamo(), config.STACKJOBS_JOBS_TABLE));
    // Read while the phase reads its job (and an approved update starts its downloads): the claim is the first to need it.
    const taskArn = resolveTaskArn(process.env).catch((e: Error) => {
      warn(`could not read the task ARN (a cancel cannot stop this task): ${e.name}`);
      return undefined;
    });
    const result = await runPhase({
      claim: async (also) => claimPhase(jobs, config.STACKJOBS_JOB_ID, config.STACKJOBS_PHASE, await taskArn, also),
      config,
      jobs,
      // Made on first use: a preview first needs S3 once its init's log closes, and loads the client while init runs
      // (an approved update needs it at once, for the downloads it starts beside its job's read). The Step Functions
      // client comes with the first heartbeat, once a tool runs; the Secrets Manager client with a job's first secret.
      store: new ArtifactStore(clients.s3, config.STACKJOBS_ARTIFACTS_BUCKET),
      whileToolRuns: () => {
        clients.s3();
        heartbeat.beatSoon();
      },
      secrets: new SecretsManagerSource(clients.secrets),
      sts: (c) => new (stsSdk().STSClient)(c),
      clock: systemClock,
      childEnv: childEnvFrom(process.env),
      signal: abort.signal,
      registry,
      warn,
    });
    outcome = abort.signal.aborted ? { ok: false, error: new CancelledError('runner', null, cancelReason ?? 'cancelled') } : { ok: true, result };
  } catch (e) {
    let error: RunnerError;
    if (e instanceof RunnerError) error = e;
    else error = new OperationFailedError('runner', null, registry.redact(e instanceof Error ? e.message : String(e)));
    if (abort.signal.aborted && !(error instanceof CancelledError))
      error = new CancelledError(error.operation, error.exitCode, `${cancelReason}: ${error.message}`);
    outcome = { ok: false, error };
  } finally {
    heartbeat.stop();
  }

  if (taskGone) {
    // Nobody is waiting for this task any more; a report would only be rejected.
    warn('task is gone; not reporting');
    return 1;
  }
  if (outcome.ok) {
    try {
      await reporter.success(outcome.result);
      return 0;
    } catch (e) {
      // A result Step Functions refuses (over its 256 KB, say) must still end the task now, not at the heartbeat
      // timeout: report the refusal as the phase's failure. A TaskDoesNotExist/TimedOut answer means nobody waits.
      const name = (e as Error).name;
      if (name === 'TaskDoesNotExist' || name === 'TaskTimedOut') throw e;
      warn(`the result was refused (${name}); reporting a failure instead`);
      await reporter.failure(new OperationFailedError('runner', null, `Step Functions refused the phase's result (${name}); see the job's logs and plan`));
      return 1;
    }
  }
  warn(`${outcome.error.errorName}: ${outcome.error.operation}`);
  await reporter.failure(outcome.error);
  return 1;
}

/** Runs the phase and exits with its code; called by the entrypoint (boot.ts) once the bundle is loaded. */
export function start(): void {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      // Configuration errors name variables, never values.
      warn(`fatal: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      process.exit(2);
    },
  );
}
