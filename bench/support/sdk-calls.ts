/**
 * BENCH ONLY. Records every AWS SDK call a client makes (command, start, end) with a middleware added to the
 * process's memoized clients (lambdas/adapters/aws/clients.ts); production code paths are unchanged.
 * The longest sequential chain is the longest run of calls where each starts after the previous one ended.
 * A call made while handling an API request carries that request's number (`inRequest`), so the workflow's own
 * calls, running in the same process at the same time, are not mistaken for the request's.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';

export interface SdkCall {
  service: string;
  command: string;
  start: number;
  end: number;
  /** The API request the call was made for (see SdkCallRecorder.inRequest), if any. */
  request?: number;
}

interface MiddlewareClient {
  middlewareStack: { add: (mw: unknown, options: { step: string; name: string }) => void };
}

export class SdkCallRecorder {
  readonly calls: SdkCall[] = [];
  private readonly requestScope = new AsyncLocalStorage<number>();
  private requests = 0;

  /** Runs `fn` (an API request's handling) so that every SDK call it makes is recorded with the request's number. */
  inRequest<T>(fn: () => Promise<T>): Promise<T> {
    return this.requestScope.run(++this.requests, fn);
  }

  attach(service: string, client: unknown): void {
    (client as MiddlewareClient).middlewareStack.add(
      (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
        const start = performance.now();
        const request = this.requestScope.getStore();
        try {
          return await next(args);
        } finally {
          this.calls.push({ service, command: (context.commandName ?? '?').replace(/Command$/, ''), start, end: performance.now(), request });
        }
      },
      // initialize: once per call, whatever the SDK's retries do underneath.
      { step: 'initialize', name: 'benchSdkCallRecorder' },
    );
  }

  /** Calls that started within [from, to]. */
  between(from: number, to: number): SdkCall[] {
    return this.calls.filter((c) => c.start >= from && c.start <= to);
  }

  /** The calls an API request made itself, for requests handled within [from, to]. */
  requestCallsBetween(from: number, to: number): SdkCall[] {
    return this.between(from, to).filter((c) => c.request !== undefined);
  }
}

/** The most calls that ran one after another (each starting after the previous ended): round trips waited for. */
export function longestChain(calls: SdkCall[]): { length: number; chain: string[] } {
  const sorted = [...calls].sort((a, b) => a.end - b.end);
  const best: Array<{ length: number; prev: number }> = [];
  sorted.forEach((c, i) => {
    best[i] = { length: 1, prev: -1 };
    for (let j = 0; j < i; j++) if (sorted[j].end <= c.start && best[j].length + 1 > best[i].length) best[i] = { length: best[j].length + 1, prev: j };
  });
  let i = best.reduce((m, b, k) => (b.length > (best[m]?.length ?? 0) ? k : m), 0);
  const chain: string[] = [];
  while (i >= 0 && sorted[i]) {
    chain.unshift(`${sorted[i].service}.${sorted[i].command}`);
    i = best[i].prev;
  }
  return { length: chain.length, chain };
}
