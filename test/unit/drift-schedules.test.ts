/**
 * Drift schedules without AWS: the expressions (what the API accepts and local mode runs), the fan-out (which
 * resources a schedule selects, what it skips, and how many checks it starts at once) and local mode's scheduler on a
 * fake clock.
 */
import { firesWithin, parseScheduleExpression } from '../../lambdas/domain/schedule-expression';
import { driftScheduleSchema, type DriftSchedule, type StackJob } from '../../lambdas/domain/schemas';
import { ConflictError, NotFoundError } from '../../lambdas/domain/errors';
import { DRIFT_CHECK_CONCURRENCY, runDriftSchedule, type DriftScheduleDeps } from '../../lambdas/app/drift-schedule';
import type { DriftCheckOutcome } from '../../lambdas/app/drift-check';
import type { ResourceRef } from '../../lambdas/adapters/dynamodb/resource-status-repository';
import { startDriftScheduler } from '../../local/drift-scheduler';

const at = (iso: string) => new Date(iso);

describe('schedule expressions (EventBridge Scheduler syntax, UTC)', () => {
  const fires = (expr: string, after: string, until: string, start = after) => firesWithin(parseScheduleExpression(expr), at(after), at(until), at(start));

  it('fires a cron expression at the start of each minute it selects', () => {
    expect(fires('cron(* * * * ? *)', '2026-03-02T10:00:30Z', '2026-03-02T10:01:00Z')).toBe(true);
    expect(fires('cron(* * * * ? *)', '2026-03-02T10:00:00Z', '2026-03-02T10:00:59Z')).toBe(false);
    expect(fires('cron(0 3 * * ? *)', '2026-03-02T02:59:00Z', '2026-03-02T03:00:00Z')).toBe(true);
    expect(fires('cron(0 3 * * ? *)', '2026-03-02T03:00:00Z', '2026-03-03T02:59:59Z')).toBe(false);
    // Steps, ranges and lists; 2026-03-02 is a Monday (MON = 2).
    expect(fires('cron(*/15 9-17 ? * MON-FRI *)', '2026-03-02T09:14:00Z', '2026-03-02T09:15:00Z')).toBe(true);
    expect(fires('cron(*/15 9-17 ? * MON-FRI *)', '2026-03-02T09:15:00Z', '2026-03-02T09:29:00Z')).toBe(false);
    expect(fires('cron(0 8 ? * 1,7 *)', '2026-03-02T00:00:00Z', '2026-03-02T23:59:00Z')).toBe(false); // weekend days only
    expect(fires('cron(0 8 ? * 1,7 *)', '2026-03-01T00:00:00Z', '2026-03-01T23:59:00Z')).toBe(true); // a Sunday
    expect(fires('cron(30 6 1,15 JAN-MAR ? 2026)', '2026-03-15T06:29:00Z', '2026-03-15T06:30:00Z')).toBe(true);
    expect(fires('cron(30 6 1,15 JAN-MAR ? 2027)', '2026-03-15T06:29:00Z', '2026-03-15T06:30:00Z')).toBe(false);
    expect(fires('cron(5/20 * * * ? *)', '2026-03-02T10:24:00Z', '2026-03-02T10:25:00Z')).toBe(true);
  });

  it('fires a rate at its start and every period after it', () => {
    const start = '2026-03-02T10:00:10Z';
    expect(fires('rate(5 minutes)', '2026-03-02T10:00:00Z', start, start)).toBe(true);
    expect(fires('rate(5 minutes)', start, '2026-03-02T10:05:09Z', start)).toBe(false);
    expect(fires('rate(5 minutes)', '2026-03-02T10:05:09Z', '2026-03-02T10:05:10Z', start)).toBe(true);
    expect(fires('rate(1 day)', '2026-03-02T10:05:10Z', '2026-03-03T10:00:09Z', start)).toBe(false);
    expect(fires('rate(1 day)', '2026-03-02T10:05:10Z', '2026-03-03T10:00:10Z', start)).toBe(true);
  });

  it("is refused by the catalog's schema, with a reason, where Scheduler's rules or local mode's support end", () => {
    const valid = (expr: string) =>
      driftScheduleSchema.safeParse({ id: 's', org: 'acmecorp', selector: { level: 'organization', org: 'acmecorp' }, schedule: expr });
    for (const ok of ['rate(1 minute)', 'rate(12 hours)', 'cron(0 3 * * ? *)', 'cron(0/10 * ? * SUN *)', 'cron(0 0 1 */3 ? 2026-2030)'])
      expect(valid(ok).success).toBe(true);
    const problem = (expr: string) => (valid(expr).error?.issues ?? []).map((i) => i.message).join('; ');
    expect(problem('cron(0 3 * * * *)')).toMatch(/exactly one of day-of-month and day-of-week must be "\?"/);
    expect(problem('cron(0 3 ? * ? *)')).toMatch(/exactly one/);
    expect(problem('cron(60 3 * * ? *)')).toMatch(/minutes: "60"/);
    expect(problem('cron(0 3 L * ? *)')).toMatch(/L, W and # are not supported/);
    expect(problem('cron(0 3 ? * 6#3 *)')).toMatch(/L, W and # are not supported/);
    expect(problem('cron(0 3 * * ?)')).not.toBe('');
    expect(problem('rate(0 minutes)')).not.toBe('');
    expect(problem('rate(30 seconds)')).not.toBe('');
    // Scheduler's unit agrees with the value: what it would refuse after the catalog write is refused before it.
    expect(problem('rate(1 hours)')).toMatch(/singular for 1 and plural above it/);
    expect(problem('rate(5 minute)')).toMatch(/singular for 1 and plural above it/);
  });
});

describe('the fan-out of a drift schedule', () => {
  const schedule = (o: Partial<DriftSchedule> = {}): DriftSchedule =>
    ({
      id: 'nightly',
      org: 'acmecorp',
      selector: { level: 'environment', org: 'acmecorp', env: 'production' },
      schedule: 'cron(0 3 * * ? *)',
      remediate: 'plan',
      ...o,
    }) as DriftSchedule;
  const refs = (n: number, env = 'production'): ResourceRef[] =>
    Array.from({ length: n }, (_, i) => ({ org: 'acmecorp', env, resourceId: `r${String(i).padStart(4, '0')}`, lastAppliedJobId: `sj_base${i}` }));
  const logs: string[] = [];
  const log = { info: (m: string) => logs.push(m), warn: (m: string) => logs.push(m), error: (m: string) => logs.push(m) } as DriftScheduleDeps['log'];

  function deps(o: { schedule?: DriftSchedule; resources?: ResourceRef[]; open?: Record<string, StackJob[]>; start?: DriftScheduleDeps['startCheck'] }) {
    const calls: Array<{ target: unknown; options: unknown }> = [];
    let active = 0;
    let peak = 0;
    const listed: Array<{ org: string; env?: string }> = [];
    const d: DriftScheduleDeps = {
      catalog: {
        get: async (kind, owner, id) => (kind === 'drift-schedules' && owner === 'acmecorp' && id === 'nightly' ? (o.schedule ?? schedule()) : undefined),
      },
      resources: {
        get: async (org, env, resourceId) => (o.resources ?? []).find((r) => r.org === org && r.env === env && r.resourceId === resourceId) as never,
        listMatching: async (org, env) => {
          listed.push({ org, env });
          return { resources: (o.resources ?? []).filter((r) => r.org === org && (env === undefined || r.env === env)), truncated: false };
        },
      },
      startCheck:
        o.start ??
        (async (target, options) => {
          calls.push({ target, options });
          active++;
          peak = Math.max(peak, active);
          await new Promise((r) => setTimeout(r, 2));
          active--;
          return { kind: 'created', job: { metadata: { id: `sj_check_${(target as { resourceId: string }).resourceId}` } } } as DriftCheckOutcome;
        }),
      openJobs: async (stackKey) => o.open?.[stackKey] ?? [],
      log,
    };
    return { d, calls, peak: () => peak, listed };
  }

  it('starts a thousand checks at most DRIFT_CHECK_CONCURRENCY (10) at a time, each by the schedule, with its remediation', async () => {
    const f = deps({ resources: refs(1000) });
    const run = await runDriftSchedule(f.d, { org: 'acmecorp', scheduleId: 'nightly' });
    expect(run.started).toHaveLength(1000);
    expect(f.calls).toHaveLength(1000);
    expect(DRIFT_CHECK_CONCURRENCY).toBe(10);
    expect(f.peak()).toBe(10);
    expect(f.calls[0].options).toEqual({ by: 'drift-schedule:nightly', remediate: 'plan', scheduleId: 'nightly' });
  });

  it('selects one resource, an environment or the whole org, and skips (and counts) resources never applied, deleted, or already being checked', async () => {
    const resources = [
      ...refs(2, 'production'),
      { org: 'acmecorp', env: 'production', resourceId: 'never_applied' },
      { org: 'acmecorp', env: 'production', resourceId: 'deleted', lastAppliedJobId: 'sj_del' },
      { org: 'acmecorp', env: 'production', resourceId: 'checking', lastAppliedJobId: 'sj_chk' },
      ...refs(1, 'dev'),
    ];
    const start: DriftScheduleDeps['startCheck'] = async (t) => {
      if (t.resourceId === 'deleted') throw new ConflictError('deleted');
      return { kind: 'created', job: { metadata: { id: `sj_${t.env}_${t.resourceId}` } } } as DriftCheckOutcome;
    };
    const open = { 'acmecorp/production/checking': [{ spec: { driftCheck: { remediate: 'none' } } } as StackJob] };
    const env = deps({ resources, start, open });
    const run = await runDriftSchedule(env.d, { org: 'acmecorp', scheduleId: 'nightly' });
    expect(env.listed).toEqual([{ org: 'acmecorp', env: 'production' }]);
    expect(run.started.map((s) => `${s.env}/${s.resourceId}`)).toEqual(['production/r0000', 'production/r0001']);
    expect(run).toMatchObject({ matched: 5, skipped: { neverApplied: 1, deleted: 1, checkInProgress: 1 }, rejected: 0, failed: 0 });

    const org = deps({ resources, start, schedule: schedule({ selector: { level: 'organization', org: 'acmecorp' } }) });
    expect((await runDriftSchedule(org.d, { org: 'acmecorp', scheduleId: 'nightly' })).started.map((s) => `${s.env}/${s.resourceId}`).sort()).toEqual([
      'dev/r0000',
      'production/checking',
      'production/r0000',
      'production/r0001',
    ]);

    const one = deps({ resources, start, schedule: schedule({ selector: { level: 'resource', org: 'acmecorp', env: 'dev', resourceId: 'r0000' } }) });
    const single = await runDriftSchedule(one.d, { org: 'acmecorp', scheduleId: 'nightly' });
    expect(single.started.map((s) => s.jobId)).toEqual(['sj_dev_r0000']);
    expect(one.listed).toEqual([]);
  });

  it('starts nothing for a schedule no longer in the catalog, and throws (so the invocation is retried) only when a check could not be started', async () => {
    const gone = deps({ resources: refs(3) });
    expect(await runDriftSchedule(gone.d, { org: 'acmecorp', scheduleId: 'deleted-one' })).toMatchObject({ found: false, started: [] });
    expect(gone.calls).toHaveLength(0);

    let n = 0;
    const flaky = deps({
      resources: refs(3),
      start: async (t) => {
        if (n++ === 1) throw new Error('ThrottlingException');
        if (t.resourceId === 'r0002') throw new NotFoundError('no applied version');
        return { kind: 'created', job: { metadata: { id: `sj_${t.resourceId}` } } } as DriftCheckOutcome;
      },
    });
    await expect(runDriftSchedule(flaky.d, { org: 'acmecorp', scheduleId: 'nightly' })).rejects.toThrow(/1 of 3 check\(s\) could not be started/);
  });

  it("never checks another org's resources: a schedule in acmecorp's catalog whose selector names globex starts nothing", async () => {
    const globex = refs(2).map((r) => ({ ...r, org: 'globex' }));
    for (const selector of [
      { level: 'organization', org: 'globex' },
      { level: 'environment', org: 'globex', env: 'production' },
      { level: 'resource', org: 'globex', env: 'production', resourceId: 'r0000' },
    ] as const) {
      const f = deps({ resources: globex, schedule: schedule({ selector }) });
      const run = await runDriftSchedule(f.d, { org: 'acmecorp', scheduleId: 'nightly' });
      expect(run).toMatchObject({ found: false, matched: 0, started: [] });
      expect(f.calls).toHaveLength(0);
      expect(f.listed).toEqual([]);
    }
  });
});

describe("local mode's scheduler", () => {
  const entry = (id: string, expr: string): { org: string; schedule: DriftSchedule } => ({
    org: 'acmecorp',
    schedule: { id, org: 'acmecorp', selector: { level: 'organization', org: 'acmecorp' }, schedule: expr, remediate: 'none' },
  });

  it('runs a cron schedule at each minute it selects and a rate schedule at once and every period, re-reading the catalog on each tick', async () => {
    let clock = at('2026-03-02T10:00:30Z');
    let catalog = [entry('every-minute', 'cron(* * * * ? *)'), entry('every-2-minutes', 'rate(2 minutes)')];
    const runs: string[] = [];
    const s = startDriftScheduler({
      listSchedules: async () => catalog,
      run: async ({ scheduleId }) => void runs.push(`${clock.toISOString().slice(11, 16)} ${scheduleId}`),
      now: () => clock,
      tickMs: 3_600_000,
    });
    const advance = async (seconds: number) => {
      clock = new Date(clock.getTime() + seconds * 1000);
      await s.tick();
      await new Promise((r) => setImmediate(r));
    };
    await advance(0);
    for (let i = 0; i < 4; i++) await advance(60);
    catalog = [entry('every-2-minutes', 'rate(2 minutes)')];
    await advance(60);
    await s.stop();
    expect(runs).toEqual([
      '10:00 every-2-minutes',
      '10:01 every-minute',
      '10:02 every-minute',
      '10:02 every-2-minutes',
      '10:03 every-minute',
      '10:04 every-minute',
      '10:04 every-2-minutes',
    ]);
  });
});
