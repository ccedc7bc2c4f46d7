/** Small pieces every page uses. */
import { useEffect, useId, useState, type ReactNode } from 'react';
import { Link } from 'react-router';
import type { ApiError, StackJob } from '../api/client';
import { stateClass, stateText } from '../format';

export function StateBadge({ job }: { job: StackJob }) {
  return <span className={`badge ${stateClass(job)}`}>{stateText(job)}</span>;
}

/** An error where it happened, in the API's words; role="alert" so a screen reader hears it. */
export function ErrorNote({ error, children }: { error?: ApiError | Error | string; children?: ReactNode }) {
  if (!error && !children) return null;
  const text = typeof error === 'string' ? error : error?.message;
  return (
    <div className="error" role="alert">
      {text}
      {children}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="loading" role="status">
      Loading {what}…
    </p>
  );
}

/** Where job `id`'s page is. */
export const jobPath = (id: string) => `/jobs/${encodeURIComponent(id)}`;

export function JobLink({ id }: { id: string }) {
  return <Link to={jobPath(id)}>{id}</Link>;
}

export function ResourceLink({ org, env, id, children }: { org: string; env: string; id: string; children?: ReactNode }) {
  return <Link to={`/orgs/${encodeURIComponent(org)}/envs/${encodeURIComponent(env)}/resources/${encodeURIComponent(id)}`}>{children ?? id}</Link>;
}

/** The current time, ticking every `ms` (for countdowns and running durations). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** A confirmation dialog (the native <dialog>: focus is trapped and Escape closes it). */
export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  confirmLabel: string;
  /** The button that closes it without doing anything. @default "Cancel" */
  dismissLabel?: string;
  onConfirm(): void;
  onCancel(): void;
  children?: ReactNode;
}) {
  const [el, setEl] = useState<HTMLDialogElement | null>(null);
  const titleId = useId();
  useEffect(() => {
    if (!el || !props.open) return;
    // The control that opened it gets the focus back when it closes, however it closes (a button, Escape, or the
    // dialog leaving the page with its owner's state).
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : undefined;
    if (!el.open) {
      if (typeof el.showModal === 'function') el.showModal();
      else el.setAttribute('open', '');
    }
    return () => {
      if (el.open) {
        if (typeof el.close === 'function') el.close();
        else el.removeAttribute('open');
      }
      if (opener?.isConnected) opener.focus();
    };
  }, [el, props.open]);
  return (
    <dialog ref={setEl} aria-labelledby={titleId} onCancel={props.onCancel}>
      <h2 id={titleId}>{props.title}</h2>
      {props.children}
      <div className="actions">
        <button type="button" className="primary" onClick={props.onConfirm}>
          {props.confirmLabel}
        </button>
        <button type="button" onClick={props.onCancel}>
          {props.dismissLabel ?? 'Cancel'}
        </button>
      </div>
    </dialog>
  );
}
