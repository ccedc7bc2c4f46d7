/**
 * Live data without hammering the API: a GET repeated while `active`, each time with `If-None-Match` carrying the
 * last `ETag` (the API answers 304 with no body when nothing changed), every `intervalMs` while the tab is visible
 * and every `hiddenIntervalMs` while it is hidden. Requests bypass the browser cache so a 304 reaches us as such.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError } from './client';

export interface Fetched<T> {
  status: number;
  data?: T;
  error?: unknown;
  etag?: string | null;
}

export interface PollOptions<T = unknown> {
  /** Keep polling after the first answer (e.g. while the job is not completed). */
  active: boolean;
  /** The pace while the tab is visible; a function is asked with the latest data each time (e.g. slower once all ended). */
  intervalMs?: number | ((data: T | undefined) => number);
  hiddenIntervalMs?: number;
}

export interface Polled<T> {
  data?: T;
  error?: ApiError;
  loading: boolean;
  /** Fetch now (e.g. after an action), whatever the schedule. */
  refresh(): void;
}

export const POLL_VISIBLE_MS = 2000;
export const POLL_HIDDEN_MS = 15000;

/** Runs `get` with the last ETag (undefined at first). Re-subscribes when `key` changes. */
export function usePolled<T>(key: string, get: (etag: string | undefined) => Promise<Fetched<T>>, options: PollOptions<T>): Polled<T> {
  const [data, setData] = useState<T | undefined>();
  const [error, setError] = useState<ApiError | undefined>();
  const [loading, setLoading] = useState(true);
  const etag = useRef<string | undefined>(undefined);
  const latest = useRef<T | undefined>(undefined);
  const getRef = useRef(get);
  getRef.current = get;
  const [tick, setTick] = useState(0);
  const refresh = useCallback(() => setTick((t) => t + 1), []);
  // The schedule reads the options when it next waits: a change of pace is no reason to ask again now.
  const opts = useRef(options);
  opts.current = options;
  // Becoming active again (a job restarted, say) is: ask now, then keep to the schedule.
  const wasActive = useRef(options.active);
  useEffect(() => {
    if (options.active && !wasActive.current) refresh();
    wasActive.current = options.active;
  }, [options.active, refresh]);

  useEffect(() => {
    etag.current = undefined;
    latest.current = undefined;
    setData(undefined);
    setError(undefined);
    setLoading(true);
  }, [key]);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // One chain of reads at a time: a read started later (the tab shown again) makes an earlier one's answer and its
    // next read moot, so answers never land out of order and chains never pile up.
    let generation = 0;
    const once = async () => {
      const mine = ++generation;
      const current = () => !stopped && mine === generation;
      try {
        const answer = await getRef.current(etag.current);
        if (!current()) return;
        if (answer.status === 304) {
          // Unchanged: keep what we have.
        } else if (answer.data !== undefined && answer.error === undefined) {
          etag.current = answer.etag ?? undefined;
          latest.current = answer.data;
          setData(answer.data);
          setError(undefined);
        } else {
          setError(new ApiError(answer.status, answer.error));
        }
      } catch (e) {
        if (current()) setError(new ApiError(0, (e as Error).message));
      } finally {
        if (current()) setLoading(false);
      }
      return current();
    };
    const schedule = () => {
      const o = opts.current;
      if (stopped || !o.active) return;
      const visible = typeof o.intervalMs === 'function' ? o.intervalMs(latest.current) : (o.intervalMs ?? POLL_VISIBLE_MS);
      const wait = document.visibilityState === 'hidden' ? (o.hiddenIntervalMs ?? POLL_HIDDEN_MS) : visible;
      timer = setTimeout(() => void once().then((still) => still && schedule()), wait);
    };
    void once().then((still) => still && schedule());
    // Coming back to the tab: look now rather than at the end of a hidden-tab interval.
    const onVisible = () => {
      if (document.visibilityState === 'visible' && opts.current.active) {
        clearTimeout(timer);
        void once().then((still) => still && schedule());
      }
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [key, tick]);

  return { data, error, loading, refresh };
}

/** Adapts an openapi-fetch answer to what usePolled wants. */
export function fetched<T>(answer: { data?: T; error?: unknown; response: Response }): Fetched<T> {
  return { status: answer.response.status, data: answer.data, error: answer.error, etag: answer.response.headers.get('etag') };
}

/** The request options that make a GET conditional and keep it out of the browser cache. */
export function conditional(etag: string | undefined): { headers: Record<string, string>; cache: RequestCache } {
  return { headers: etag ? { 'if-none-match': etag } : {}, cache: 'no-store' };
}
