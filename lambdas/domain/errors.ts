/** The small set of domain errors. Each maps once to an HTTP status (http/problem.ts) and a Step Functions error name. */
import type { CheckResult } from './schemas';

export abstract class DomainError extends Error {
  abstract readonly code: string;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export interface FieldProblem {
  path: string;
  message: string;
}

/** The caller's input is malformed; `fields` says what is wrong where. */
export class ValidationError extends DomainError {
  readonly code = 'validation';
  constructor(
    message: string,
    readonly fields: FieldProblem[] = [],
  ) {
    super(message);
  }
}

export class NotFoundError extends DomainError {
  readonly code = 'not_found';
}

export class ForbiddenError extends DomainError {
  readonly code = 'forbidden';
}

/** The request is well-formed but the resource's state does not allow it (e.g. approving a completed job). */
export class ConflictError extends DomainError {
  readonly code = 'conflict';
}

/** A state backend refused a request or lacks what it needs (access denied, no such table): the message says which and why. */
export class BackendUnavailableError extends DomainError {
  readonly code = 'backend_unavailable';
}

/** A status change the transition table does not allow. Never a silent overwrite. */
export class IllegalTransitionError extends DomainError {
  readonly code = 'illegal_transition';
  constructor(
    readonly from: string,
    readonly to: string,
    what = 'job',
  ) {
    super(`illegal ${what} transition ${from} -> ${to}`);
  }
}

/** One or more pre-flight checks failed; every check's result is attached. */
export class PreflightFailedError extends DomainError {
  readonly code = 'preflight_failed';
  constructor(readonly checks: CheckResult[]) {
    super(
      `one or more pre-flight checks failed (${checks
        .filter((c) => !c.passed)
        .map((c) => c.check)
        .join(', ')}); no job was created`,
    );
  }
}
