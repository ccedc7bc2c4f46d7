/**
 * Local mode's stand-in for EventBridge Scheduler: runs every org's drift schedules from the catalog, with the same
 * expressions (lambdas/domain/schedule-expression.ts: `rate(…)` and six-field `cron(…)`, in UTC), by calling the
 * fan-out handler the schedule would invoke on AWS with the same input, `{org, scheduleId}`.
 * Each tick reads the catalog again, so a drift schedule PUT or DELETEd through the API is picked up at the next tick:
 * a new or changed rate schedule fires at once (as Scheduler starts one without a start date), a cron schedule at the
 * next minute it selects; a deleted one no more. A run still going when its schedule fires again is not started twice.
 * Time and the tick are injectable, so a test can run "every minute" in a second of wall time.
 */
import { ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { firesWithin, parseScheduleExpression, ScheduleExpressionError, type ScheduleExpression } from '../lambdas/domain/schedule-expression';
import { driftScheduleSchema, type DriftSchedule } from '../lambdas/domain/schemas';

/** How long stopping waits for a tick or fan-out in flight. */
const STOP_WAIT_MS = 3000;
export interface DriftSchedulerOptions {
  /** Every drift schedule of every org (catalogSchedules below). */
  listSchedules: () => Promise<Array<{ org: string; schedule: DriftSchedule }>>;
  /** What Scheduler's target is: the fan-out handler. */
  run: (input: { org: string; scheduleId: string }) => Promise<unknown>;
  /** @default 10 000 ms */
  tickMs?: number;
  /** The scheduler's clock. @default the system clock */
  now?: () => Date;
  log?: (line: string) => void;
}

export interface DriftScheduler {
  /** Runs one tick now (reads the catalog, starts what is due); the timer keeps ticking on its own. */
  tick(): Promise<void>;
  /** Stops ticking and waits for the runs under way. */
  stop(): Promise<void>;
}

interface Known {
  expression: ScheduleExpression;
  /** When this scheduler first saw the schedule with this expression: a rate schedule's start. */
  since: Date;
}

/** Every org's drift schedules, read with a Scan of the catalog table for `*#drift-schedules` partitions (local only: its catalog is small). */
export function catalogSchedules(db: DynamoDBDocumentClient, catalogTable: string, log: (l: string) => void = () => undefined) {
  return async (): Promise<Array<{ org: string; schedule: DriftSchedule }>> => {
    const found: Array<{ org: string; schedule: DriftSchedule }> = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await db.send(
        new ScanCommand({
          TableName: catalogTable,
          FilterExpression: 'contains(pk, :kind)',
          ExpressionAttributeValues: { ':kind': '#drift-schedules' },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of out.Items ?? []) {
        const [org, kind] = String(item.pk).split('#');
        if (kind !== 'drift-schedules') continue;
        const parsed = driftScheduleSchema.safeParse(item.entity);
        if (parsed.success) found.push({ org, schedule: parsed.data });
        else log(`drift schedule ${org}/${String(item.sk)} in the catalog is not valid; not run`);
      }
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return found;
  };
}

export function startDriftScheduler(o: DriftSchedulerOptions): DriftScheduler {
  const now = o.now ?? (() => new Date());
  const log = o.log ?? (() => undefined);
  const known = new Map<string, Known>();
  const running = new Map<string, Promise<void>>();
  let last = now();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> = Promise.resolve();

  const fire = (org: string, scheduleId: string) => {
    const key = `${org}/${scheduleId}`;
    if (running.has(key)) {
      log(`drift schedule ${key} is due but its last run is still going; skipped this time`);
      return;
    }
    const run = o
      .run({ org, scheduleId })
      .then(
        (result) => {
          const r = result as { started?: Array<{ jobId: string }>; matched?: number; skipped?: Record<string, number> } | undefined;
          log(
            `drift schedule ${key} ran: ${r?.matched ?? '?'} resource(s) matched, ${r?.started?.length ?? 0} check(s) started${r?.started?.length ? ` (${r.started.map((s) => s.jobId).join(', ')})` : ''}, skipped ${JSON.stringify(r?.skipped ?? {})}`,
          );
        },
        (e: Error) => log(`drift schedule ${key} failed: ${e.name}: ${e.message}`),
      )
      .finally(() => running.delete(key));
    running.set(key, run);
  };

  const tickOnce = async () => {
    const at = now();
    let schedules: Array<{ org: string; schedule: DriftSchedule }>;
    try {
      schedules = await o.listSchedules();
    } catch (e) {
      log(`reading the drift schedules failed: ${(e as Error).name}: ${(e as Error).message}`);
      return;
    }
    const seen = new Set<string>();
    for (const { org, schedule } of schedules) {
      const key = `${org}/${schedule.id}`;
      seen.add(key);
      let entry = known.get(key);
      if (!entry || entry.expression.text !== schedule.schedule) {
        try {
          entry = { expression: parseScheduleExpression(schedule.schedule), since: at };
        } catch (e) {
          if (!(e instanceof ScheduleExpressionError)) throw e;
          log(`drift schedule ${key}: ${e.message}; not run`);
          continue;
        }
        known.set(key, entry);
        // A new rate schedule fires at once; a new cron schedule at the next minute it selects.
        if (entry.expression.kind === 'rate') fire(org, schedule.id);
        continue;
      }
      if (firesWithin(entry.expression, last, at, entry.since)) fire(org, schedule.id);
    }
    for (const key of [...known.keys()]) if (!seen.has(key)) known.delete(key);
    last = at;
  };

  const loop = () => {
    if (stopped) return;
    ticking = tickOnce().finally(() => {
      if (!stopped) {
        timer = setTimeout(loop, o.tickMs ?? 10_000);
        // The schedule alone never keeps the process alive: local mode stops it, and a test's process may end.
        timer.unref();
      }
    });
  };
  loop();

  return {
    async tick() {
      await ticking;
      await tickOnce();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      // A tick or fan-out still waiting on storage (a fault being injected, a store already stopping) is left behind
      // after a bound, so stopping local mode never hangs on the scheduler.
      let bound: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all([ticking, ...running.values()]).catch(() => undefined),
        new Promise((resolve) => {
          bound = setTimeout(resolve, STOP_WAIT_MS);
          bound.unref();
        }),
      ]);
      clearTimeout(bound);
    },
  };
}
