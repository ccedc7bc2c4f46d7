/** Follows a job until it completes (or waits for approval), reporting each change as it happens. */
import type { StackJob } from '../lambdas/domain/schemas';
import type { ApiClient } from './api-client';
import { outcomeLine } from './render';

export interface ProgressView {
  update(job: StackJob, elapsedMs: number): void;
  done(job: StackJob): void;
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
  };
}

export interface FollowOptions {
  intervalMs?: number;
  /** Return when the job waits for approval instead of waiting for someone to decide. */
  stopAtApproval?: boolean;
  view?: ProgressView;
  now?: () => number;
}

export async function followJob(client: ApiClient, id: string, o: FollowOptions = {}): Promise<StackJob> {
  const now = o.now ?? Date.now;
  const started = now();
  for (;;) {
    const job = await client.getJob(id);
    o.view?.update(job, now() - started);
    if (job.status.phase === 'completed' || (o.stopAtApproval && job.status.phase === 'awaiting_approval')) {
      o.view?.done(job);
      return job;
    }
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 500));
  }
}
