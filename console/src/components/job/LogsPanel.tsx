/**
 * A job's logs, per phase and operation: read incrementally with the API's cursor (each read appends only what was
 * written since), followed live until the job has ended, searchable, and downloadable as text.
 */
import { useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { ApiError, type Api } from '../../api/client';
import { conditional, POLL_HIDDEN_MS, POLL_VISIBLE_MS } from '../../api/poll';
import { useSession } from '../../auth/session';
import { ErrorNote } from '../common';
import './job.css';

const PHASES = ['preview', 'update'] as const;
const OPERATIONS = ['init', 'refresh', 'plan', 'apply', 'destroy'] as const;
type Phase = (typeof PHASES)[number];
type Operation = (typeof OPERATIONS)[number];

export interface LogQuery {
  phase?: Phase;
  /** Only with a phase (the API reads an operation's logs under its phase). */
  operation?: Operation;
}

interface LogStream {
  text: string;
  /** Still reading: the job has not ended, or pages remain. */
  following: boolean;
  loading: boolean;
  error?: ApiError;
}

/**
 * Reads the logs from the start, then keeps reading from the cursor: at once while pages come back full (a long log
 * is paged), on the polling schedule while the job is still going, and stops once the job has ended and nothing is left.
 */
export function useLogStream(api: Api, jobId: string, { phase, operation }: LogQuery): LogStream {
  const [stream, setStream] = useState<LogStream>({ text: '', following: true, loading: true });
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let cursor: string | undefined;
    let etag: string | undefined;
    setStream({ text: '', following: true, loading: true });

    const read = async (): Promise<'more' | 'wait' | 'done'> => {
      const answer = await api.GET('/v1/stack-jobs/{id}/logs', {
        params: { path: { id: jobId }, query: { ...(phase ? { phase } : {}), ...(phase && operation ? { operation } : {}), ...(cursor ? { cursor } : {}) } },
        ...conditional(etag),
      });
      if (stopped) return 'done';
      if (answer.response.status === 304) return 'wait';
      if (!answer.data) {
        setStream((s) => ({ ...s, following: false, loading: false, error: new ApiError(answer.response.status, answer.error) }));
        return 'done';
      }
      const page = answer.data;
      etag = answer.response.headers.get('etag') ?? undefined;
      cursor = page.cursor ?? cursor;
      const ended = page.phase === 'completed' && page.chunks === 0;
      setStream((s) => ({ text: s.text + page.text, following: !ended, loading: false }));
      if (page.chunks > 0) return 'more';
      return ended ? 'done' : 'wait';
    };
    const loop = async () => {
      try {
        const next = await read();
        if (stopped || next === 'done') return;
        const wait = next === 'more' ? 0 : document.visibilityState === 'hidden' ? POLL_HIDDEN_MS : POLL_VISIBLE_MS;
        timer = setTimeout(() => void loop(), wait);
      } catch (e) {
        if (!stopped) setStream((s) => ({ ...s, following: false, loading: false, error: new ApiError(0, (e as Error).message) }));
      }
    };
    void loop();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [api, jobId, phase, operation]);

  return stream;
}

/** The lines that contain `search` (case-insensitive); every line when there is no search. */
export function matchingLines(text: string, search: string): string[] {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const needle = search.trim().toLowerCase();
  return needle ? lines.filter((l) => l.toLowerCase().includes(needle)) : lines;
}

function Highlighted({ line, search }: { line: string; search: string }) {
  const needle = search.trim().toLowerCase();
  const parts: ReactNode[] = [];
  const lower = line.toLowerCase();
  let at = 0;
  for (let i = lower.indexOf(needle); i !== -1; i = lower.indexOf(needle, at)) {
    parts.push(line.slice(at, i), <mark key={i}>{line.slice(i, i + needle.length)}</mark>);
    at = i + needle.length;
  }
  parts.push(line.slice(at));
  return <>{parts}</>;
}

/** Saves text as a file through a short-lived Blob URL: the log never leaves the browser again. */
function download(text: string, filename: string) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/plain;charset=utf-8' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

export function LogsPanel({ jobId }: { jobId: string }) {
  const { api } = useSession();
  const [query, setQuery] = useState<LogQuery>({});
  const [search, setSearch] = useState('');
  const [follow, setFollow] = useState(true);
  const stream = useLogStream(api, jobId, query);
  const pre = useRef<HTMLPreElement>(null);
  const lines = useMemo(() => matchingLines(stream.text, search), [stream.text, search]);
  const searching = search.trim() !== '';

  // Following: keep the newest line in view as text arrives (unless the reader is searching).
  useEffect(() => {
    if (follow && !searching && pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [stream.text, follow, searching]);

  const which = `${query.phase ?? 'all'}${query.operation ? `-${query.operation}` : ''}`;
  return (
    <section className="panel" aria-labelledby="logs-title">
      <h2 id="logs-title">Logs</h2>
      <form className="filters" aria-label="Which logs" onSubmit={(e) => e.preventDefault()}>
        <label>
          Phase
          <select value={query.phase ?? ''} onChange={(e) => setQuery(e.target.value ? { phase: e.target.value as Phase } : {})}>
            <option value="">All</option>
            {PHASES.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </label>
        <label>
          Operation
          <select
            value={query.operation ?? ''}
            disabled={!query.phase}
            aria-describedby={query.phase ? undefined : 'logs-operation-hint'}
            onChange={(e) => setQuery({ phase: query.phase, ...(e.target.value ? { operation: e.target.value as Operation } : {}) })}
          >
            <option value="">All</option>
            {OPERATIONS.map((o) => (
              <option key={o} value={o}>
                {o}
              </option>
            ))}
          </select>
        </label>
        {!query.phase && (
          <span id="logs-operation-hint" className="visually-hidden">
            Choose a phase to pick one of its operations.
          </span>
        )}
        <label>
          Search logs
          <input type="search" value={search} onChange={(e) => setSearch(e.target.value)} />
        </label>
        {stream.following && (
          <label className="inline">
            <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow live
          </label>
        )}
        <button type="button" disabled={!stream.text} onClick={() => download(stream.text, `${jobId}-${which}.log`)}>
          Download logs
        </button>
      </form>
      <ErrorNote error={stream.error} />
      <p className="muted" role="status">
        {stream.loading
          ? 'Loading logs…'
          : searching
            ? `${lines.length} matching line${lines.length === 1 ? '' : 's'}`
            : stream.following
              ? 'Following the job live.'
              : stream.text
                ? 'The job has ended: these are all its logs.'
                : ''}
      </p>
      {!stream.loading && !stream.text && !stream.error ? (
        <p className="muted">No logs{stream.following ? ' yet' : ''}.</p>
      ) : (
        <pre ref={pre} className="logs" tabIndex={0} aria-label="Log text">
          {searching
            ? lines.map((l, i) => (
                <span key={i} className="log-line">
                  <Highlighted line={l} search={search} />
                  {'\n'}
                </span>
              ))
            : stream.text}
        </pre>
      )}
    </section>
  );
}
