/**
 * The runner's side of the `.waitForTaskToken` contract. The token lives only in this object: the runner
 * deletes it from process.env before any child process exists, and an SDK error this rethrows (which the runner
 * logs) never quotes it.
 */
import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { clientOf, type ClientRef } from '../../lambdas/adapters/aws/sdk';
import type { RunnerResult } from '../../lambdas/domain/schemas';
import { withoutTokenError } from '../../lambdas/shared/task-token';
import type { RunnerError } from './errors';

/** SFN answers a heartbeat with these when the task is over: keep working and nobody will take the result. */
const TASK_GONE = new Set(['TaskTimedOut', 'TaskDoesNotExist']);

export class TaskGoneError extends Error {
  override readonly name = 'TaskGoneError';
}

export class TaskReporter {
  constructor(
    private readonly client: ClientRef<SFNClient>,
    private readonly taskToken: string,
  ) {}

  /** Made on first use (a ClientRef function): its first beat need not delay the phase's first request. */
  private get sfn(): SFNClient {
    return clientOf(this.client);
  }

  async heartbeat(): Promise<void> {
    try {
      await this.sfn.send(new SendTaskHeartbeatCommand({ taskToken: this.taskToken }));
    } catch (e) {
      const name = (e as Error).name;
      if (TASK_GONE.has(name)) throw new TaskGoneError(`task is over (${name})`);
      throw withoutTokenError(e, this.taskToken);
    }
  }

  async success(result: RunnerResult): Promise<void> {
    await this.sfn.send(new SendTaskSuccessCommand({ taskToken: this.taskToken, output: JSON.stringify(result) })).catch((e: unknown) => {
      throw withoutTokenError(e, this.taskToken);
    });
  }

  async failure(error: RunnerError): Promise<void> {
    await this.sfn.send(new SendTaskFailureCommand({ taskToken: this.taskToken, error: error.errorName, cause: error.causeJson() })).catch((e: unknown) => {
      throw withoutTokenError(e, this.taskToken);
    });
  }
}

/**
 * Heartbeats every `intervalMs` until stopped. A transient failure is only logged (the next beat retries);
 * a TaskTimedOut/TaskDoesNotExist answer calls `onGone` once and stops beating.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly reporter: Pick<TaskReporter, 'heartbeat'>,
    private readonly intervalMs: number,
    private readonly onGone: (reason: string) => void,
    private readonly warn: (message: string) => void,
  ) {}

  /**
   * Beats once soon, then every interval: the state machine's heartbeat window runs from the task's start, so image
   * pull and Fargate start already used part of it before the first interval would end. The first beat waits for
   * `firstBeatMs` at most, or until beatSoon() (main: when the first tool starts), so that its client and request
   * are not made while the phase is reading its job (a phase over in less time never needs one).
   */
  start(firstBeatMs = 0): void {
    this.firstDue = true;
    if (firstBeatMs < this.intervalMs) this.first = setTimeout(() => this.beatSoon(), firstBeatMs);
    this.timer = setInterval(() => {
      this.firstDue = false;
      void this.beat();
    }, this.intervalMs);
  }

  /** Sends the first beat now, unless it was sent (or the heartbeat stopped). */
  beatSoon(): void {
    if (!this.firstDue) return;
    this.firstDue = false;
    clearTimeout(this.first);
    void this.beat();
  }

  stop(): void {
    this.firstDue = false;
    clearTimeout(this.first);
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private first: NodeJS.Timeout | undefined;
  /** The first beat is still to be sent. */
  private firstDue = false;

  private async beat(): Promise<void> {
    try {
      await this.reporter.heartbeat();
    } catch (e) {
      if (e instanceof TaskGoneError) {
        this.stop();
        this.onGone(e.message);
      } else {
        this.warn(`heartbeat failed (will retry): ${(e as Error).name}`);
      }
    }
  }
}
