/** The runner's heartbeat schedule (runner-image/src/task-reporter.ts Heartbeat), on jest's fake timers. */
import { Heartbeat } from '../../runner-image/src/task-reporter';

const beating = () => {
  const beats: number[] = [];
  const heartbeat = new Heartbeat(
    { heartbeat: async () => void beats.push(Date.now()) },
    60_000,
    () => undefined,
    () => undefined,
  );
  return { beats, heartbeat };
};

beforeEach(() => jest.useFakeTimers({ now: 0 }));
afterEach(() => jest.useRealTimers());

it('sends the first beat at firstBeatMs when no tool has started, then one every interval', () => {
  const { beats, heartbeat } = beating();
  heartbeat.start(5000);
  jest.advanceTimersByTime(4999);
  expect(beats).toEqual([]);
  jest.advanceTimersByTime(1);
  expect(beats).toEqual([5000]);
  jest.advanceTimersByTime(120_000);
  expect(beats).toEqual([5000, 60_000, 120_000]);
  heartbeat.stop();
});

it('sends the first beat at once on beatSoon (a tool started), and only once', () => {
  const { beats, heartbeat } = beating();
  heartbeat.start(5000);
  jest.advanceTimersByTime(300);
  heartbeat.beatSoon();
  heartbeat.beatSoon();
  jest.advanceTimersByTime(10_000);
  expect(beats).toEqual([300]);
  heartbeat.stop();
});

it('never waits longer than the interval for its first beat, and sends nothing once stopped', () => {
  const { beats, heartbeat } = beating();
  heartbeat.start(10 * 60_000);
  jest.advanceTimersByTime(60_000);
  expect(beats).toEqual([60_000]);
  heartbeat.stop();
  heartbeat.beatSoon();
  jest.advanceTimersByTime(600_000);
  expect(beats).toEqual([60_000]);
});
