/**
 * The errors workflow steps raise to the state machine. A Lambda's error name becomes the Step Functions error
 * name, so these names are the contract with the definition's Retry and Catch (infra/constructs/state-machine.ts).
 */
import { ConflictError } from '../domain/errors';

/** The Step Functions error names the workflow and its runner use. */
export const WorkflowErrorName = {
  /** Safe to retry: nothing was decided (throttling, a lost optimistic race, an event bus hiccup). */
  transient: 'StackJob.Transient',
  /** The approver said no (SendTaskFailure from the approvals work). */
  rejected: 'StackJob.Rejected',
  /** A runner operation failed (SendTaskFailure from the runner; cause JSON {operation, exitCode, message}). */
  operationFailed: 'StackJob.OperationFailed',
  /** The job was cancelled while the runner or the approval was waiting. */
  cancelled: 'StackJob.Cancelled',
  /**
   * The runner stopped without reporting (killed, out of memory, its image not pulled): SendTaskFailure from the
   * runner-stopped Lambda on ECS's STOPPED event, or from local mode when the runner process exits (runner-stopped.ts).
   */
  runnerLost: 'StackJob.RunnerLost',
  /** The workflow's own invariants do not hold (e.g. the approved digest is not the previewed one). */
  invariant: 'StackJob.InvariantViolated',
} as const;

export class TransientStepError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = WorkflowErrorName.transient;
  }
}

export class WorkflowInvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = WorkflowErrorName.invariant;
  }
}

/** SDK errors that mean "try again later"; anything else is a real failure and goes to the Catch. */
const TRANSIENT_SDK_ERRORS = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'Throttling',
  'RequestLimitExceeded',
  'InternalServerError',
  'InternalFailure',
  'ServiceUnavailable',
  'TimeoutError',
]);

/** Maps an error to what the state machine should see: transient ones become StackJob.Transient (retried). */
export function asStepError(e: unknown): Error {
  if (e instanceof TransientStepError) return e;
  // The job repository gives up after its optimistic attempts: another writer is busy, so a later retry converges.
  if (e instanceof ConflictError) return new TransientStepError(e.message, { cause: e });
  if (e instanceof Error) {
    const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (TRANSIENT_SDK_ERRORS.has(e.name) || (status !== undefined && status >= 500)) return new TransientStepError(`${e.name}: ${e.message}`, { cause: e });
    return e;
  }
  return new Error(String(e));
}
