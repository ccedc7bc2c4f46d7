/**
 * Lambda entry EventBridge Scheduler invokes for a drift schedule (target input `{org, scheduleId}`): starts a drift
 * check of every resource the schedule selects, a few at a time (app/drift-schedule.ts).
 */
import { driftFanOutDepsFromEnv } from '../app/drift-deps';
import { runDriftSchedule, type DriftScheduleRun } from '../app/drift-schedule';
import { lazy } from '../shared/lazy';

const deps = lazy(() => driftFanOutDepsFromEnv());

export const handler = async (event: unknown): Promise<DriftScheduleRun> => {
  const d = deps();
  try {
    return await runDriftSchedule(d, event);
  } finally {
    d.flush();
  }
};
