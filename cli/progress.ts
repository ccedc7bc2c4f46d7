/** Follows a job until it completes (or waits for approval), reporting each change as it happens. */
import type { StackJob } from '../lambdas/domain/schemas';
import type { ApiClient } from './api-client';
import { outcomeLine } from './render';

export interface ProgressView {
  update(job: StackJob, elapsedMs: number): void;
  done(job: StackJob): void;
  /** One line of the job's log, printed above the status (followJob with `logs`). */
  log(line: string): void;
}

export function describeJob(job: StackJob, elapsedMs: number): string {
  const s = job.status;
  const running = s.operations.find((o) => o.status === 'running');
  const parts = [`${job.metadata.id}`, `${s.phase}/${s.result}`];
  if (running) parts.push(`running ${running.name}`);
  if (s.phase === 'queued' && s.queuePosition !== undefined) parts.push(`queue position ${s.queuePosition}`);
  parts.push(`${(elapsedMs / 1000).toFixed(1)}s`);
  return parts.join('  ');
}

export function describePlan(job: StackJob): string | undefined {
  const p = job.status.plan?.summary;
  if (!p) return undefined;
  const risky = p.resources.filter((r) => r.actions.includes('delete')).map((r) => r.address);
  return (
    `plan: ${p.add} to add, ${p.change} to change, ${p.destroy} to destroy, ${p.replace} to replace` +
    (risky.length ? ` (destroys/replaces: ${risky.slice(0, 5).join(', ')})` : '')
  );
}

/** A terminal view: one live status line, with the plan and hints printed above it as they arrive. */
export function terminalView(out: NodeJS.WriteStream, o: { planShown?: boolean } = {}): ProgressView {
  let planShown = o.planShown ?? false;
  const line = (text: string) => out.write(`\r\x1b[2K${text}`);
  return {
    update(job, elapsed) {
      const plan = describePlan(job);
      if (plan && !planShown) {
        planShown = true;
        out.write(`\r\x1b[2K${plan}\n`);
      }
      line(describeJob(job, elapsed));
    },
    done(job) {
      out.write(`\r\x1b[2K${outcomeLine(job)}\n`);
    },
    log(text) {
      // Over the status line, which the next update draws again below it.
      out.write(`\r\x1b[2K  ${text}\n`);
    },
  };
}

/** A log view for pipes: a line whenever the description changes. */
export function lineView(out: NodeJS.WritableStream, o: { planShown?: boolean } = {}): ProgressView {
  let last = '';
  let planShown = o.planShown ?? false;
  return {
    update(job, elapsed) {
      const plan = describePlan(job);
      if (plan && !planShown) {
        planShown = true;
        out.write(`${plan}\n`);
      }
      const text = describeJob(job, 0).replace(/\s+0\.0s$/, '');
      if (text !== last) out.write(`${describeJob(job, elapsed)}\n`);
      last = text;
    },
    done(job) {
      out.write(`${outcomeLine(job)}\n`);
    },
    log(text) {
      out.write(`  ${text}\n`);
    },
  };
}

export interface FollowOptions {
  intervalMs?: number;
  /** Return when the job waits for approval instead of waiting for someone to decide. */
  stopAtApproval?: boolean;
  view?: ProgressView;
  now?: () => number;
  /**
   * Print the log lines the job writes while it is followed, as `stackjobs logs --follow` would (what came before is
   * not repeated): a long apply otherwise shows one unchanging status line for minutes.
   */
  logs?: boolean;
  /** How often the log is read when `logs` is set. @default 2000 */
  logIntervalMs?: number;
}

/** Reads a job's log from where the last read stopped, as whole lines (a partial last line waits for the rest). */
class LogTail {
  private cursor?: string;
  private partial = '';
  constructor(
    private readonly client: ApiClient,
    private readonly id: string,
  ) {}

  /** The text since the last read (one page of the API's), or '' when there is none or the read failed. */
  private async page(): Promise<string> {
    try {
      const { body } = await this.client.request<{ text: string; cursor?: string }>(
        'GET',
        `/v1/stack-jobs/${encodeURIComponent(this.id)}/logs${this.cursor ? `?cursor=${encodeURIComponent(this.cursor)}` : ''}`,
      );
      this.cursor = body.cursor ?? this.cursor;
      return body.text;
    } catch {
      // The log is a courtesy while following: a read that fails (a proxy hiccup, a role that may not read logs)
      // must not end the follow, whose job status is what the command reports.
      return '';
    }
  }

  /** The whole lines since the last read; `drain` reads page after page until nothing more comes. */
  async read(drain = false): Promise<string[]> {
    let text = await this.page();
    for (let more = text, pages = 1; drain && more !== '' && pages < 100; pages++) {
      more = await this.page();
      text += more;
    }
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    return lines;
  }

  /** Moves past what the job has logged so far (a long log comes in pages). */
  async skip(): Promise<void> {
    for (let pages = 0; pages < 100 && (await this.page()) !== ''; pages++);
  }

  /** The partial last line, once nothing more will come. */
  rest(): string[] {
    const rest = this.partial;
    this.partial = '';
    return rest ? [rest] : [];
  }
}

export async function followJob(client: ApiClient, id: string, o: FollowOptions = {}): Promise<StackJob> {
  const now = o.now ?? Date.now;
  const started = now();
  const view = o.view;
  const tail = o.logs && view ? new LogTail(client, id) : undefined;
  // What the job logged before the follow started is skipped: the news is what it does from now on (the earlier log,
  // the preview's before an approval, stays readable with `stackjobs logs`).
  if (tail) await tail.skip();
  let logsRead = now();
  for (;;) {
    const job = await client.getJob(id);
    const ended = job.status.phase === 'completed' || (o.stopAtApproval && job.status.phase === 'awaiting_approval');
    // Read to the end once the job ended: the runner writes its last lines before the job ends, so none is missed.
    if (tail && (ended || now() - logsRead >= (o.logIntervalMs ?? 2000))) {
      logsRead = now();
      for (const line of await tail.read(ended)) view!.log(line);
      if (ended) for (const line of tail.rest()) view!.log(line);
    }
    view?.update(job, now() - started);
    if (ended) {
      view?.done(job);
      return job;
    }
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 500));
  }
}
