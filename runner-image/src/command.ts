/**
 * Runs one IaC command for an operation: output is humanised (for `-json` commands), redacted, streamed to the
 * operation's log sink, and the redacted tail is kept for the failure message. Machine output that must not
 * be logged (plan JSON, output values) goes to a file instead.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { basename } from 'node:path';
import { CancelledError, MAX_MESSAGE_CHARS, OperationFailedError } from './errors';
import { JsonUiHumaniser, type ChangeCounts } from './json-ui';
import type { S3LogSink } from './log-sink';
import { StreamRedactor, type SecretRegistry } from './redactor';
import { supervise } from './supervisor';

export interface CommandSpec {
  args: string[];
  /** Another program than the tool's binary (Pulumi: `npm ci` for a program's dependencies). */
  bin?: string;
  /** The command prints `-json` UI lines: log their human-readable form. */
  json?: boolean;
  /** Send stdout here instead of the log (plan JSON, output values). */
  stdoutFile?: string;
  /** Exit codes that mean success. @default [0] */
  okExitCodes?: number[];
  /** Extra environment for this command only. */
  env?: Record<string, string>;
}

export interface CommandOutcome {
  exitCode: number;
  changeSummary?: ChangeCounts;
}

export type Exec = (spec: CommandSpec) => Promise<CommandOutcome>;

export interface ExecContext {
  operation: string;
  bin: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  graceMs: number;
  signal: AbortSignal;
  registry: SecretRegistry;
  sink: S3LogSink;
  /** The tool's own uid/gid (STACKJOBS_TOOL_UID), when the runner runs as root. */
  user?: { uid: number; gid: number };
}

/** Bytes of redacted output kept for the failure message. */
const TAIL_BYTES = 8 * 1024;

class Tail {
  private buf = Buffer.alloc(0);
  push(b: Buffer): void {
    this.buf = Buffer.concat([this.buf, b]);
    if (this.buf.length > TAIL_BYTES) this.buf = Buffer.from(this.buf.subarray(this.buf.length - TAIL_BYTES));
  }
  text(): string {
    return this.buf
      .toString('utf8')
      .replace(/^\uFFFD+/, '')
      .trim();
  }
}

async function writeTo(stream: WriteStream, chunk: Buffer): Promise<void> {
  if (!stream.write(chunk)) await new Promise<void>((resolve) => stream.once('drain', resolve));
}

export async function execCommand(ctx: ExecContext, spec: CommandSpec): Promise<CommandOutcome> {
  const tail = new Tail();
  const emit = async (bytes: Buffer) => {
    if (bytes.length === 0) return;
    tail.push(bytes);
    await ctx.sink.write(bytes);
  };
  const bin = spec.bin ?? ctx.bin;
  await emit(Buffer.from(ctx.registry.redact(`$ ${basename(bin)} ${spec.args.join(' ')}\n`)));

  const errRedactor = new StreamRedactor(ctx.registry);
  const outRedactor = new StreamRedactor(ctx.registry);
  const humaniser = spec.json ? new JsonUiHumaniser() : undefined;
  const file = spec.stdoutFile ? createWriteStream(spec.stdoutFile, { mode: 0o600 }) : undefined;

  const result = await supervise({
    bin,
    args: spec.args,
    cwd: ctx.cwd,
    env: { ...ctx.env, ...spec.env },
    timeoutMs: ctx.timeoutMs,
    graceMs: ctx.graceMs,
    signal: ctx.signal,
    ...(ctx.user ? { user: ctx.user } : {}),
    onStdout: async (chunk) => {
      if (file) return writeTo(file, chunk);
      await emit(outRedactor.write(humaniser ? humaniser.write(chunk) : chunk));
    },
    onStderr: async (chunk) => emit(errRedactor.write(chunk)),
  });
  if (humaniser) await emit(outRedactor.write(humaniser.end()));
  await emit(outRedactor.end());
  await emit(errRedactor.end());
  if (file) await new Promise<void>((resolve, reject) => file.end((e?: Error | null) => (e ? reject(e) : resolve())));

  const what = `${basename(bin)} ${spec.args[0] ?? ''}`.trim();
  if (result.spawnError) {
    throw new OperationFailedError(ctx.operation, null, ctx.registry.redact(`cannot start ${what}: ${result.spawnError.message}`));
  }
  const ended = result.killed ? 'was killed after ignoring SIGINT for the grace period' : 'stopped';
  if (result.stopped === 'cancelled') {
    await emit(Buffer.from(`\n[stack-jobs] ${what} ${ended}: the run was cancelled\n`));
    throw new CancelledError(ctx.operation, result.exitCode, `cancelled during ${ctx.operation}; ${what} ${ended}`);
  }
  if (result.stopped === 'timeout') {
    await emit(Buffer.from(`\n[stack-jobs] ${what} ${ended}: operation timeout of ${Math.round(ctx.timeoutMs / 1000)} s\n`));
    throw new OperationFailedError(ctx.operation, result.exitCode, `${what} timed out after ${Math.round(ctx.timeoutMs / 1000)} s\n${tail.text()}`);
  }
  const exitCode = result.exitCode ?? 128;
  if (!(spec.okExitCodes ?? [0]).includes(exitCode)) {
    const how = result.exitCode === null ? `was ended by ${result.exitSignal}` : `exited with ${exitCode}`;
    const message = `${what} ${how}\n${tail.text()}`;
    throw new OperationFailedError(ctx.operation, exitCode, message.slice(-MAX_MESSAGE_CHARS));
  }
  return { exitCode, ...(humaniser?.changeSummary ? { changeSummary: humaniser.changeSummary } : {}) };
}
