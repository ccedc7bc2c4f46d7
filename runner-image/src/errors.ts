/**
 * How a phase ends badly, as the state machine sees it: the Step Functions error name and a cause JSON
 * `{operation, exitCode, message}` whose message is already redacted.
 */

export const OPERATION_FAILED = 'StackJob.OperationFailed';
export const CANCELLED = 'StackJob.Cancelled';

/** Step Functions caps `cause` at 32768 characters; the message is a tail, kept well under that. */
export const MAX_MESSAGE_CHARS = 4000;

export abstract class RunnerError extends Error {
  abstract readonly errorName: typeof OPERATION_FAILED | typeof CANCELLED;
  constructor(
    readonly operation: string,
    readonly exitCode: number | null,
    message: string,
  ) {
    super(message.length > MAX_MESSAGE_CHARS ? `…${message.slice(-MAX_MESSAGE_CHARS)}` : message);
    this.name = new.target.name;
  }

  causeJson(): string {
    return JSON.stringify({ operation: this.operation, exitCode: this.exitCode, message: this.message });
  }
}

/** An operation failed (non-zero exit, timeout, refused plan, unreadable input). */
export class OperationFailedError extends RunnerError {
  readonly errorName = OPERATION_FAILED;
}

/** The run was stopped from outside (SIGTERM from ECS, a lost task token). */
export class CancelledError extends RunnerError {
  readonly errorName = CANCELLED;
}
