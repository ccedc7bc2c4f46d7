/**
 * Running a drift schedule once: what EventBridge Scheduler invokes the fan-out Lambda with on AWS (input
 * `{org, scheduleId}`), and what local mode's scheduler calls in process. It reads the schedule from the catalog,
 * lists the resources its selector matches, and starts a drift check of each (app/drift-check.ts), at most
 * DRIFT_CHECK_CONCURRENCY at a time, so a schedule over a thousand resources never starts a thousand at once.
 * Skipped, and counted: resources never applied (nothing to compare with), resources whose last job deleted them, and
 * resources a check is already queued or running for (a schedule faster than its checks, or a redelivered invocation,
 * adds none).
 */
import * as z from '../shared/zod';
import { ConflictError, NotFoundError } from '../domain/errors';
import { driftScheduleSchema, type CheckResult, type DriftSchedule, type StackJob } from '../domain/schemas';
import { stackKeyOf } from '../domain/resolution';
import type { CatalogRepository } from '../adapters/dynamodb/catalog-repository';
import type { ResourceRef, ResourceStatusRepository } from '../adapters/dynamodb/resource-status-repository';
import type { LogSink } from '../approvals/ports';
import type { DriftCheckOptions, DriftCheckOutcome, DriftCheckTarget } from './drift-check';

/** How many checks one run starts at the same time. */
export const DRIFT_CHECK_CONCURRENCY = 10;

/** What Scheduler hands the fan-out (the schedule's target input). */
export const driftScheduleInputSchema = z.object({ org: z.string().min(1), scheduleId: z.string().min(1) });
export type DriftScheduleInput = z.infer<typeof driftScheduleInputSchema>;

/** Who a scheduled check is started by (its `metadata.submittedBy`). */
export const scheduleSubmitter = (scheduleId: string) => `drift-schedule:${scheduleId}`;

export interface DriftScheduleDeps {
  catalog: Pick<CatalogRepository, 'get'>;
  resources: Pick<ResourceStatusRepository, 'get' | 'listMatching'>;
  /** startDriftCheck with its dependencies bound (app/drift-check.ts); a fake in tests. */
  startCheck(target: DriftCheckTarget, options: DriftCheckOptions): Promise<DriftCheckOutcome>;
  /** The unfinished jobs of a stack (JobRepository.listOpenInStack). */
  openJobs(stackKey: string): Promise<StackJob[]>;
  log: LogSink;
  /** @default DRIFT_CHECK_CONCURRENCY */
  concurrency?: number;
}

export interface DriftScheduleRun {
  org: string;
  scheduleId: string;
  /** False when the schedule is not in the catalog (deleted after Scheduler fired), not valid, or selects outside its org: nothing was started. */
  found: boolean;
  /** Resources the selector matched. */
  matched: number;
  started: Array<{ env: string; resourceId: string; jobId: string }>;
  skipped: { neverApplied: number; deleted: number; checkInProgress: number };
  /** Pre-flight refused the check (credentials, module, backend...): logged with the failed checks' names. */
  rejected: number;
  /** Starting the check failed for another reason (logged); the run throws after trying every resource. */
  failed: number;
  /** The listing hit its bound (ResourceStatusRepository.listMatching) and some resources were not looked at. */
  truncated: boolean;
}

/** Runs `fn` over `items`, at most `limit` at a time, in order of start. `fn` must not throw. */
export async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

async function matchingResources(d: DriftScheduleDeps, s: DriftSchedule): Promise<{ resources: ResourceRef[]; truncated: boolean }> {
  const sel = s.selector;
  if (sel.level === 'resource') {
    const status = await d.resources.get(sel.org, sel.env, sel.resourceId);
    const ref: ResourceRef = { org: sel.org, env: sel.env, resourceId: sel.resourceId };
    return { resources: [status?.lastAppliedJobId ? { ...ref, lastAppliedJobId: status.lastAppliedJobId } : ref], truncated: false };
  }
  return d.resources.listMatching(sel.org, sel.level === 'environment' ? sel.env : undefined);
}

export async function runDriftSchedule(d: DriftScheduleDeps, input: unknown): Promise<DriftScheduleRun> {
  const { org, scheduleId } = driftScheduleInputSchema.parse(input);
  const run: DriftScheduleRun = {
    org,
    scheduleId,
    found: false,
    matched: 0,
    started: [],
    skipped: { neverApplied: 0, deleted: 0, checkInProgress: 0 },
    rejected: 0,
    failed: 0,
    truncated: false,
  };
  const raw = await d.catalog.get('drift-schedules', org, scheduleId);
  const parsed = raw === undefined ? undefined : driftScheduleSchema.safeParse(raw);
  if (!parsed?.success) {
    d.log.warn(
      parsed ? 'the drift schedule in the catalog is not valid; nothing was started' : 'the drift schedule is not in the catalog; nothing was started',
      {
        org,
        scheduleId,
      },
    );
    return run;
  }
  const schedule = parsed.data;
  // The catalog entry is the org's own, but its selector names an org too: never check another org's resources.
  if (schedule.org !== org || schedule.selector.org !== org) {
    d.log.error('the drift schedule selects outside its own org; nothing was started', { org, scheduleId, selectorOrg: schedule.selector.org });
    return run;
  }
  run.found = true;
  const { resources, truncated } = await matchingResources(d, schedule);
  run.matched = resources.length;
  run.truncated = truncated;
  if (truncated)
    d.log.error('the resource listing was cut short at its bound: resources past it are not checked this time', { org, scheduleId, listed: resources.length });

  const options: DriftCheckOptions = { by: scheduleSubmitter(scheduleId), remediate: schedule.remediate, scheduleId };
  await forEachLimited(resources, d.concurrency ?? DRIFT_CHECK_CONCURRENCY, async (r) => {
    const where = { org: r.org, env: r.env, resourceId: r.resourceId, scheduleId };
    if (!r.lastAppliedJobId) {
      run.skipped.neverApplied++;
      return;
    }
    try {
      if ((await d.openJobs(stackKeyOf(r))).some((j) => j.spec.driftCheck)) {
        run.skipped.checkInProgress++;
        return;
      }
      const outcome = await d.startCheck({ org: r.org, env: r.env, resourceId: r.resourceId }, options);
      if (outcome.kind === 'created') {
        run.started.push({ env: r.env, resourceId: r.resourceId, jobId: outcome.job.metadata.id });
        return;
      }
      run.rejected++;
      d.log.warn('pre-flight refused the drift check', { ...where, failedChecks: failedChecks(outcome.checks) });
    } catch (e) {
      // Not applied after all (its status changed since the listing), or its last job deleted it.
      if (e instanceof NotFoundError) run.skipped.neverApplied++;
      else if (e instanceof ConflictError) run.skipped.deleted++;
      else {
        run.failed++;
        d.log.error('starting the drift check failed', { ...where, error: (e as Error).name, message: (e as Error).message });
      }
    }
  });
  d.log.info('drift schedule ran', {
    org,
    scheduleId,
    matched: run.matched,
    started: run.started.length,
    jobIds: run.started.map((s) => s.jobId),
    skipped: run.skipped,
    rejected: run.rejected,
    failed: run.failed,
  });
  // A failure is retried (Lambda's asynchronous retries, then the failure queue): resources already being checked are skipped then.
  if (run.failed > 0) throw new Error(`drift schedule ${org}/${scheduleId}: ${run.failed} of ${run.matched} check(s) could not be started`);
  return run;
}

const failedChecks = (checks: CheckResult[]) => checks.filter((c) => !c.passed).map((c) => c.check);
