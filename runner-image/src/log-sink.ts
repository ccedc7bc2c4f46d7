/**
 * Streams one operation's (already redacted) output to S3 as ordered chunks: a chunk is cut at `chunkBytes`
 * or every `flushMs`, whichever comes first, so a reader can follow a running job. The first output goes sooner:
 * `firstFlushMs` after the first byte (1 s by default), so a user sees progress at once, not after the first interval. Memory is bounded:
 * at most one chunk being filled plus MAX_IN_FLIGHT chunks being uploaded; a writer waits beyond that.
 */

export interface LogChunkWriter {
  putLogChunk(jobId: string, phase: string, operation: string, seq: number, body: Buffer): Promise<unknown>;
}

export interface LogSinkOptions {
  chunkBytes: number;
  flushMs: number;
  /** How soon after the operation's first output its first chunk leaves (default FIRST_FLUSH_MS, at most flushMs). */
  firstFlushMs?: number;
}

/** The first chunk of an operation leaves at most this long after its first byte. */
export const FIRST_FLUSH_MS = 1000;

/** Uploads queued before writers wait: enough to overlap filling and uploading, small enough to bound memory. */
const MAX_IN_FLIGHT = 2;

/**
 * Retries of one chunk after the SDK's own attempts gave up, for errors S3 itself calls transient (5xx such as
 * 503 SlowDown, throttling, a dropped connection). Chunks are chained, so a retrying chunk holds the ones after
 * it back (order kept) and writers wait (memory bounded). Waits double from 250 ms, capped at 8 s:
 * 0.25 + 0.5 + 1 + 2 + 4 + 8 + 8 = 23.75 s of waiting over 7 retries before the upload is reported failed.
 */
export const LOG_UPLOAD_RETRY = { retries: 7, baseDelayMs: 250, factor: 2, maxDelayMs: 8000 } as const;

/** S3/network failures worth another attempt; anything else (AccessDenied, NoSuchBucket...) fails at once. */
export function isTransientUploadError(e: unknown): boolean {
  const err = e as { name?: string; code?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  const status = err.$metadata?.httpStatusCode;
  if (err.$retryable || (status !== undefined && (status >= 500 || status === 429))) return true;
  return (
    ['SlowDown', 'ServiceUnavailable', 'InternalError', 'RequestTimeout', 'RequestTimeTooSkewed', 'TimeoutError', 'ThrottlingException'].includes(
      err.name ?? '',
    ) || ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT'].includes(err.code ?? '')
  );
}

const retryDelayMs = (retry: number) => Math.min(LOG_UPLOAD_RETRY.baseDelayMs * LOG_UPLOAD_RETRY.factor ** retry, LOG_UPLOAD_RETRY.maxDelayMs);

/** Bytes at the end of `buf` that start a UTF-8 character not yet complete (0 when it ends on a boundary). */
export function incompleteUtf8Tail(buf: Buffer): number {
  for (let i = 1; i <= Math.min(3, buf.length); i++) {
    const b = buf[buf.length - i];
    if ((b & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead byte
    if (b < 0xc0) return 0; // ASCII
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
    return need > i ? i : 0;
  }
  return 0;
}

export class S3LogSink {
  private parts: Buffer[] = [];
  private size = 0;
  private seq = 0;
  private inFlight: Array<Promise<void>> = [];
  private chain: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private readonly timer: NodeJS.Timeout;
  private firstTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Bytes uploaded so far (for benchmarks and the runner's own diagnostics). */
  uploadedBytes = 0;
  /** Chunk uploads retried under LOG_UPLOAD_RETRY so far. */
  retries = 0;

  constructor(
    private readonly store: LogChunkWriter,
    private readonly jobId: string,
    private readonly phase: string,
    private readonly operation: string,
    private readonly options: LogSinkOptions,
  ) {
    this.timer = setInterval(() => this.cut(false), options.flushMs);
    this.timer.unref();
  }

  /** Accepts redacted bytes; resolves when the caller may write more (backpressure). */
  async write(bytes: Buffer): Promise<void> {
    if (this.closed) throw new Error('log sink is closed');
    if (bytes.length === 0) return;
    this.parts.push(bytes);
    this.size += bytes.length;
    if (this.seq === 0 && !this.firstTimer) {
      this.firstTimer = setTimeout(() => this.cut(false), Math.min(this.options.firstFlushMs ?? FIRST_FLUSH_MS, this.options.flushMs));
      this.firstTimer.unref();
    }
    while (this.size >= this.options.chunkBytes) this.cut(true);
    while (this.inFlight.length > MAX_IN_FLIGHT) await this.inFlight[0];
    if (this.failure) throw this.failure;
  }

  /** Uploads whatever is buffered and waits for every upload; the sink stays open (another command may follow). */
  async flush(): Promise<void> {
    this.cut(false, true);
    await this.chain;
    if (this.failure) throw this.failure;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.firstTimer);
    await this.flush();
    this.closed = true;
  }

  /** Cuts one chunk: a full one (`full`), or whatever is buffered (timer / flush), on a UTF-8 boundary. */
  private cut(full: boolean, final = false): void {
    if (this.size === 0) return;
    const all = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
    let take = full ? Math.min(this.options.chunkBytes, all.length) : all.length;
    // Hold back a split character (unless this is the last word), so every chunk decodes on its own.
    const head = all.subarray(0, take);
    const back = final && take === all.length ? 0 : incompleteUtf8Tail(head);
    if (back < take) take -= back;
    if (take === 0) return;
    const body = Buffer.from(all.subarray(0, take));
    const rest = all.subarray(take);
    this.parts = rest.length > 0 ? [Buffer.from(rest)] : [];
    this.size = rest.length;
    this.enqueue(body);
  }

  private enqueue(body: Buffer): void {
    const seq = ++this.seq;
    // Uploads are chained so chunk N is stored before chunk N+1: a follower never sees a gap it later has to fill.
    const upload = this.chain.then(async () => {
      if (this.failure) return;
      for (let retry = 0; ; retry++) {
        try {
          await this.store.putLogChunk(this.jobId, this.phase, this.operation, seq, body);
          this.uploadedBytes += body.length;
          return;
        } catch (e) {
          if (retry >= LOG_UPLOAD_RETRY.retries || !isTransientUploadError(e)) {
            this.failure = e as Error;
            return;
          }
          this.retries++;
          await new Promise((r) => setTimeout(r, retryDelayMs(retry)));
        }
      }
    });
    this.chain = upload;
    this.inFlight.push(upload);
    void upload.then(() => {
      this.inFlight.splice(this.inFlight.indexOf(upload), 1);
    });
  }
}
