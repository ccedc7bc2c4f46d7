/**
 * EventBridge Scheduler's recurring expressions, parsed and evaluated the way Scheduler evaluates them in UTC:
 * `rate(<n> minute|minutes|hour|hours|day|days)` and the six-field `cron(minutes hours day-of-month month day-of-week
 * year)`. The API validates every drift schedule with this parser before it is stored (and handed to Scheduler on
 * AWS), and local mode's scheduler (local/drift-scheduler.ts) runs schedules with it, so both accept the same syntax.
 *
 * Cron fields take `*`, numbers, ranges (`a-b`), lists (`a,b`), steps (`*\/n`, `a/n`, `a-b/n`), month names
 * (JAN-DEC) and day names (SUN-SAT, 1 = Sunday as in Scheduler); `?` stands for "any" in day-of-month or day-of-week,
 * and exactly one of the two must be `?` (Scheduler's rule). Scheduler's `L`, `W` and `#` are refused: local mode could
 * not run them the same way, so neither side accepts them.
 */

export class ScheduleExpressionError extends Error {
  override readonly name = 'ScheduleExpressionError';
}

export type CronField = ReadonlySet<number>;

export type ScheduleExpression =
  | { kind: 'rate'; text: string; everyMs: number }
  | {
      kind: 'cron';
      text: string;
      minutes: CronField;
      hours: CronField;
      /** Undefined for `?`: the day is chosen by day-of-week. */
      daysOfMonth?: CronField;
      months: CronField;
      /** Undefined for `?`: the day is chosen by day-of-month. 1 = Sunday ... 7 = Saturday. */
      daysOfWeek?: CronField;
      years: CronField;
    };

const UNIT_MS: Record<string, number> = { minute: 60_000, minutes: 60_000, hour: 3_600_000, hours: 3_600_000, day: 86_400_000, days: 86_400_000 };
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  /** Names for the values min, min+1, ... */
  names?: string[];
  /** Whether `?` is allowed. */
  any?: boolean;
}

const FIELDS: FieldSpec[] = [
  { name: 'minutes', min: 0, max: 59 },
  { name: 'hours', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31, any: true },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  { name: 'day-of-week', min: 1, max: 7, names: DAYS, any: true },
  { name: 'year', min: 1970, max: 2199 },
];

function value(text: string, spec: FieldSpec): number {
  const named = spec.names?.indexOf(text.toUpperCase()) ?? -1;
  const n = named >= 0 ? spec.min + named : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < spec.min || n > spec.max)
    throw new ScheduleExpressionError(
      `${spec.name}: "${text}" is not a value from ${spec.min} to ${spec.max}${spec.names ? ` (or ${spec.names[0]}-${spec.names.at(-1)})` : ''}`,
    );
  return n;
}

/** One field's values; undefined for `?`. */
function parseField(text: string, spec: FieldSpec): CronField | undefined {
  if (text === '?') {
    if (!spec.any) throw new ScheduleExpressionError(`${spec.name}: "?" is allowed only in day-of-month and day-of-week`);
    return undefined;
  }
  if (/[LW#]/i.test(text.replace(new RegExp(spec.names?.join('|') ?? '^$', 'gi'), '')))
    throw new ScheduleExpressionError(`${spec.name}: "${text}": L, W and # are not supported (use numbers, ranges, lists and steps)`);
  const values = new Set<number>();
  for (const item of text.split(',')) {
    const m = /^([^/]+)(?:\/(\d+))?$/.exec(item);
    if (!m) throw new ScheduleExpressionError(`${spec.name}: "${item}" is not a value, range, list or step`);
    const [, base, stepText] = m;
    const step = stepText === undefined ? 1 : Number(stepText);
    if (step < 1) throw new ScheduleExpressionError(`${spec.name}: the step in "${item}" must be at least 1`);
    let from: number;
    let to: number;
    if (base === '*') [from, to] = [spec.min, spec.max];
    else if (base.includes('-')) {
      const [a, b, ...rest] = base.split('-');
      if (rest.length > 0) throw new ScheduleExpressionError(`${spec.name}: "${item}" is not a range`);
      [from, to] = [value(a, spec), value(b, spec)];
      if (from > to) throw new ScheduleExpressionError(`${spec.name}: the range "${base}" runs backwards`);
    } else [from, to] = [value(base, spec), stepText === undefined ? value(base, spec) : spec.max];
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return values;
}

/** Parses an expression or throws ScheduleExpressionError saying what is wrong. */
export function parseScheduleExpression(text: string): ScheduleExpression {
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(text);
  if (rate) {
    const n = Number(rate[1]);
    if (n < 1) throw new ScheduleExpressionError('rate: the value must be a positive whole number');
    // EventBridge documents rate(1 hours) and rate(5 hour) as invalid, and Scheduler documents no exception: refused
    // here rather than written to the catalog and then failing on AWS.
    if ((n === 1) === rate[2].endsWith('s'))
      throw new ScheduleExpressionError('rate: the unit is singular for 1 and plural above it (rate(1 hour), rate(5 hours))');
    return { kind: 'rate', text, everyMs: n * UNIT_MS[rate[2]] };
  }
  const cron = /^cron\((.*)\)$/.exec(text);
  if (!cron) throw new ScheduleExpressionError('expected rate(<n> minutes|hours|days) or cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)');
  const parts = cron[1].trim().split(/\s+/);
  if (parts.length !== 6) throw new ScheduleExpressionError(`cron: expected 6 fields (minutes hours day-of-month month day-of-week year), got ${parts.length}`);
  const [minutes, hours, daysOfMonth, months, daysOfWeek, years] = parts.map((p, i) => parseField(p, FIELDS[i]));
  if ((daysOfMonth === undefined) === (daysOfWeek === undefined))
    throw new ScheduleExpressionError('cron: exactly one of day-of-month and day-of-week must be "?" (a value or * in one, ? in the other)');
  return { kind: 'cron', text, minutes: minutes!, hours: hours!, daysOfMonth, months: months!, daysOfWeek, years: years! };
}

/** The problem with an expression, or undefined when it is one this parser accepts. */
export function scheduleExpressionProblem(text: string): string | undefined {
  try {
    parseScheduleExpression(text);
    return undefined;
  } catch (e) {
    if (e instanceof ScheduleExpressionError) return e.message;
    throw e;
  }
}

/** Whether a cron expression selects the minute `at` falls in (UTC). */
export function cronMatches(e: Extract<ScheduleExpression, { kind: 'cron' }>, at: Date): boolean {
  const day = e.daysOfMonth ? e.daysOfMonth.has(at.getUTCDate()) : e.daysOfWeek!.has(at.getUTCDay() + 1);
  return day && e.minutes.has(at.getUTCMinutes()) && e.hours.has(at.getUTCHours()) && e.months.has(at.getUTCMonth() + 1) && e.years.has(at.getUTCFullYear());
}

const MINUTE = 60_000;
/** A cron expression is looked at over at most this much of the past (a machine that slept longer fires once, not for every missed minute). */
const CRON_LOOKBACK_MINUTES = 2 * 24 * 60;

/**
 * Whether the schedule fires at least once in (after, until]. A cron expression fires at the start of each minute it
 * selects; a rate fires at `rateStart` and every period after it (Scheduler starts a rate schedule without a start date
 * at once, when it is created).
 */
export function firesWithin(e: ScheduleExpression, after: Date, until: Date, rateStart: Date): boolean {
  const [a, u] = [after.getTime(), until.getTime()];
  if (u <= a) return false;
  if (e.kind === 'rate') {
    const start = rateStart.getTime();
    if (u < start) return false;
    const k = a < start ? 0 : Math.floor((a - start) / e.everyMs) + 1;
    return start + k * e.everyMs <= u;
  }
  let t = Math.max(Math.floor(a / MINUTE) + 1, Math.floor(u / MINUTE) - CRON_LOOKBACK_MINUTES) * MINUTE;
  for (; t <= u; t += MINUTE) if (cronMatches(e, new Date(t))) return true;
  return false;
}
