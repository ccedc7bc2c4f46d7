/** Clocks and id generators are injected wherever logic depends on them, so tests can pin both. */
import { monotonicFactory } from 'ulid';

export interface Clock {
  now(): Date;
}
export const systemClock: Clock = { now: () => new Date() };

export type IdPrefix = 'sj' | 'apr' | 'evt';
export interface IdGenerator {
  next(prefix: IdPrefix): string;
}

/** `<prefix>_` + lowercase ULID: sortable by creation time, unique without coordination. */
export function ulidIds(clock: Clock = systemClock): IdGenerator {
  const ulid = monotonicFactory();
  return { next: (prefix) => `${prefix}_${ulid(clock.now().getTime()).toLowerCase()}` };
}
