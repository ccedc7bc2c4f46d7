/**
 * Streams one operation's (already redacted) output to S3 as ordered chunks: a chunk is cut at `chunkBytes`
 * or every `flushMs`, whichever comes first, so a reader can follow a running job. Memory is bounded:
 * at most one chunk being filled plus MAX_IN_FLIGHT chunks being uploaded; a writer waits beyond that.
 */

export interface LogChunkWriter {
  putLogChunk(jobId: string, phase: string, operation: string, seq: number, body: Buffer): Promise<unknown>;
}

export interface LogSinkOptions {
  chunkBytes: number;
  flushMs: number;
}

/** Uploads queued before writers wait: enough to overlap filling and uploading, small enough to bound memory. */
const MAX_IN_FLIGHT = 2;

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
  private closed = false;
  /** Bytes uploaded so far (for benchmarks and the runner's own diagnostics). */
  uploadedBytes = 0;

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
      try {
        await this.store.putLogChunk(this.jobId, this.phase, this.operation, seq, body);
        this.uploadedBytes += body.length;
      } catch (e) {
        this.failure = e as Error;
      }
    });
    this.chain = upload;
    this.inFlight.push(upload);
    void upload.then(() => {
      this.inFlight.splice(this.inFlight.indexOf(upload), 1);
    });
  }
}
