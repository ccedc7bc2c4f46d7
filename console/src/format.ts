/** How times, durations and states read in the console. */
import type { StackJob } from './api/client';

export function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function between(from?: string, to?: string, now = Date.now()): number | undefined {
  if (!from) return undefined;
  return (to ? Date.parse(to) : now) - Date.parse(from);
}

export function when(iso?: string): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** "completed · failed (operation_failed)", "awaiting approval", "queued (#2)" */
export function stateText(job: StackJob): string {
  const s = job.status;
  if (s.phase === 'completed') return `${s.result}${s.reason && s.reason !== s.result ? ` (${s.reason.replace(/_/g, ' ')})` : ''}`;
  if (s.phase === 'queued' && s.queuePosition !== undefined) return `queued (#${s.queuePosition})`;
  return s.phase.replace(/_/g, ' ');
}

/** A CSS class per outcome, for the badge's colour (never the only cue: the text says it too). */
export function stateClass(job: StackJob): string {
  const s = job.status;
  if (s.phase !== 'completed') return `state-${s.phase}`;
  return `state-${s.result}`;
}

export function isActive(job: StackJob | undefined): boolean {
  return job !== undefined && job.status.phase !== 'completed';
}
