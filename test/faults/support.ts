/**
 * One local-mode instance for the fault tests, with the faults switchable while it runs: the fault proxies'
 * rules and the runner environment are read at request / spawn time, so each test sets its own and resets them.
 * Reads for assertions go straight to dynalite and s3rver, never through the fault proxies.
 */
import { STATE } from '../../infra/constructs/state-machine';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { parse } from 'yaml';
import { documentClient } from '../../lambdas/adapters/dynamodb/client';
import { JobRepository } from '../../lambdas/adapters/dynamodb/job-repository';
import { LockRepository } from '../../lambdas/adapters/dynamodb/lock-repository';
import type { StackJob } from '../../lambdas/domain/schemas';
import { localConfigSchema } from '../../local/config';
import type { FaultRule } from '../../local/fault-proxy';
import { REPO_ROOT, startLocalMode, type LocalMode } from '../../local/local-mode';
import { buildStandin } from '../support/standin-iac/build';

export const OPERATOR = 'local-operator-token';

export interface FaultBench {
  local: LocalMode;
  logs: string[];
  /** The runner environment, read at each spawn: tests add stand-in controls and `reset()` removes them. */
  runnerEnv: Record<string, string>;
  faults: { dynamodb?: FaultRule; s3?: FaultRule };
  jobs: JobRepository;
  locks: LockRepository;
  s3: S3Client;
  post(change: unknown): Promise<{ status: number; job: StackJob }>;
  waitFor(id: string, until: (job: StackJob) => boolean, timeoutMs?: number): Promise<StackJob>;
  /** Every log chunk of a job as [key, body], in key order (which is sequence order within an operation). */
  logChunks(jobId: string, phase: string, operation: string): Promise<Array<[string, string]>>;
  reset(): void;
  stop(): Promise<void>;
}

/** A change to the example bucket module in its own stack (resource id), so tests never share a lock. */
export function change(resourceId: string, version = 'v1', spec: Record<string, unknown> = { tier: 'standard' }) {
  return {
    resource: { id: resourceId, name: `${resourceId}-name`, org: 'acmecorp', env: 'production', version: { id: version, message: `change ${version}` } },
    kind: 'demo_bucket',
    spec,
    triggerEvent: 'created',
    createdBy: 'dev@acmecorp.example',
  };
}

export async function startFaultBench(options: { heartbeatSeconds: number }): Promise<FaultBench> {
  const config = localConfigSchema.parse(parse(readFileSync(join(REPO_ROOT, 'examples/local/stackjobs.yaml'), 'utf8')));
  // No approval pause: the faults are about the runner, the lock and the stores, not the approval.
  for (const p of config.catalog['flow-control-policies'] ?? []) (p as { pauseBetweenPreviewAndUpdate: boolean }).pauseBetweenPreviewAndUpdate = false;
  const base = {
    STACKJOBS_TERRAFORM_BIN: buildStandin(),
    // Beats well inside the shortened HeartbeatSeconds below, so only a dead runner times out.
    STACKJOBS_HEARTBEAT_SECONDS: String(options.heartbeatSeconds / 6),
    STACKJOBS_LOG_FLUSH_SECONDS: '0.2',
    STACKJOBS_GRACE_SECONDS: '2',
  };
  const runnerEnv: Record<string, string> = { ...base };
  const faults: FaultBench['faults'] = {};
  const logs: string[] = [];
  const local = await startLocalMode({
    config,
    inMemory: true,
    runnerEnv,
    timeoutSecondsOverrides: { 'Wait For Stack Lock': 1 },
    // Every platform runner state, the one-task state of a job that does not pause included.
    heartbeatSecondsOverrides: Object.fromEntries(
      [STATE.runPreview, STATE.runUpdate, STATE.runPreviewAndUpdate].map((state) => [state, options.heartbeatSeconds]),
    ),
    faults: { dynamodb: (r) => faults.dynamodb?.(r), s3: (r) => faults.s3?.(r) },
    log: (l) => logs.push(l),
  });
  const db = documentClient({ endpoint: local.dynamoEndpoint, region: 'us-east-1', credentials: local.credentials });
  const s3 = new S3Client({ endpoint: local.s3Endpoint, region: 'us-east-1', forcePathStyle: true, credentials: local.credentials });
  const jobs = new JobRepository(db, local.names.jobsTable);
  const locks = new LockRepository(db, local.names.jobsTable);

  const post: FaultBench['post'] = async (body) => {
    const res = await fetch(`${local.apiUrl}/v1/stack-jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, job: (await res.json()) as StackJob };
  };
  const waitFor: FaultBench['waitFor'] = async (id, until, timeoutMs = 30000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = await jobs.get(id);
      if (found && until(found.job)) return found.job;
      if (Date.now() > deadline)
        throw new Error(`job ${id} did not reach the expected state; last ${JSON.stringify(found?.job.status)}\n${logs.slice(-30).join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const logChunks: FaultBench['logChunks'] = async (jobId, phase, operation) => {
    const out = await s3.send(new ListObjectsV2Command({ Bucket: local.names.artifactsBucket, Prefix: `jobs/${jobId}/logs/${phase}/${operation}/` }));
    const keys = (out.Contents ?? []).map((o) => o.Key!).sort();
    return Promise.all(
      keys.map(
        async (key) =>
          [key, await (await s3.send(new GetObjectCommand({ Bucket: local.names.artifactsBucket, Key: key }))).Body!.transformToString()] as [string, string],
      ),
    );
  };
  return {
    local,
    logs,
    runnerEnv,
    faults,
    jobs,
    locks,
    s3,
    post,
    waitFor,
    logChunks,
    reset() {
      for (const k of Object.keys(runnerEnv)) delete runnerEnv[k];
      Object.assign(runnerEnv, base);
      delete faults.dynamodb;
      delete faults.s3;
    },
    async stop() {
      db.destroy();
      s3.destroy();
      await local.stop();
    },
  };
}

/** Line numbers of the stand-in's numbered log lines (`standin log line 0000000042 xxx`), in order of appearance. */
export function numberedLines(text: string): number[] {
  return [...text.matchAll(/standin log line (\d{10}) /g)].map((m) => Number(m[1]));
}

/** The runner's child processes (the stand-in CLI), read before the runner is killed so they can be stopped after. */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
