/** The S3 log sink: ordered chunks, size and time cuts, bounded buffering, UTF-8-safe boundaries. */
import { FIRST_FLUSH_MS, incompleteUtf8Tail, S3LogSink, type LogChunkWriter } from '../../runner-image/src/log-sink';

class SlowStore implements LogChunkWriter {
  chunks: Array<{ seq: number; body: Buffer }> = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(private readonly delayMs = 0) {}
  async putLogChunk(_job: string, _phase: string, _op: string, seq: number, body: Buffer) {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setTimeout(r, this.delayMs));
    this.chunks.push({ seq, body });
    this.inFlight--;
  }
}

describe('S3LogSink', () => {
  it('cuts full chunks at the size limit, in order, and loses nothing', async () => {
    const store = new SlowStore(1);
    const sink = new S3LogSink(store, 'j', 'preview', 'plan', { chunkBytes: 10, flushMs: 60_000 });
    const input = Buffer.from('0123456789'.repeat(7) + 'tail');
    for (let i = 0; i < input.length; i += 3) await sink.write(input.subarray(i, i + 3));
    await sink.close();
    expect(store.chunks.map((c) => c.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(store.chunks.slice(0, 7).every((c) => c.body.length === 10)).toBe(true);
    expect(Buffer.concat(store.chunks.map((c) => c.body)).equals(input)).toBe(true);
  });

  it('flushes a partial chunk after the flush interval, so a reader can follow', async () => {
    const store = new SlowStore();
    const sink = new S3LogSink(store, 'j', 'preview', 'plan', { chunkBytes: 1 << 20, flushMs: 50 });
    await sink.write(Buffer.from('first line\n'));
    await new Promise((r) => setTimeout(r, 150));
    expect(store.chunks.map((c) => c.body.toString())).toEqual(['first line\n']);
    await sink.close();
  });

  it('sends the first output within a second of its first byte, then keeps to the flush interval', async () => {
    const store = new SlowStore();
    const sink = new S3LogSink(store, 'j', 'preview', 'plan', { chunkBytes: 1 << 20, flushMs: 60_000, firstFlushMs: 40 });
    await sink.write(Buffer.from('Initializing the backend...\n'));
    await new Promise((r) => setTimeout(r, 120));
    expect(store.chunks.map((c) => c.body.toString())).toEqual(['Initializing the backend...\n']);
    // Only the first: later output waits for the interval (or the size cut, or the end).
    await sink.write(Buffer.from('second\n'));
    await new Promise((r) => setTimeout(r, 120));
    expect(store.chunks).toHaveLength(1);
    await sink.close();
    expect(store.chunks.map((c) => c.body.toString())).toEqual(['Initializing the backend...\n', 'second\n']);
    // The default is one second, never longer than the interval itself.
    expect(FIRST_FLUSH_MS).toBe(1000);
  });

  it('makes writers wait when uploads fall behind (bounded memory)', async () => {
    const store = new SlowStore(20);
    const sink = new S3LogSink(store, 'j', 'preview', 'plan', { chunkBytes: 4, flushMs: 60_000 });
    const started = Date.now();
    for (let i = 0; i < 10; i++) await sink.write(Buffer.from('abcd'));
    // 10 chunks at 20 ms each, with at most 3 queued: the writer must have waited for most of them.
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    expect(store.maxInFlight).toBe(1);
    await sink.close();
    expect(store.chunks).toHaveLength(10);
  });

  it('never ends a chunk inside a UTF-8 character', async () => {
    const store = new SlowStore();
    const sink = new S3LogSink(store, 'j', 'preview', 'plan', { chunkBytes: 5, flushMs: 60_000 });
    const text = '✓✓✓ é日本語 done';
    await sink.write(Buffer.from(text));
    await sink.close();
    for (const c of store.chunks) expect(Buffer.from(c.body.toString('utf8')).equals(c.body)).toBe(true);
    expect(store.chunks.map((c) => c.body.toString('utf8')).join('')).toBe(text);
  });

  it('reports an upload failure at flush instead of dropping logs silently', async () => {
    const sink = new S3LogSink({ putLogChunk: () => Promise.reject(new Error('AccessDenied')) }, 'j', 'preview', 'plan', { chunkBytes: 4, flushMs: 60_000 });
    await sink.write(Buffer.from('ab')).catch(() => undefined);
    await expect(sink.close()).rejects.toThrow('AccessDenied');
  });

  it('knows an incomplete trailing character', () => {
    const check = Buffer.from('a✓');
    expect(incompleteUtf8Tail(check)).toBe(0);
    expect(incompleteUtf8Tail(check.subarray(0, 3))).toBe(2);
    expect(incompleteUtf8Tail(check.subarray(0, 2))).toBe(1);
  });
});
