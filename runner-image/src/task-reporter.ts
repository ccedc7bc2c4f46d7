/**
 * The runner's side of the `.waitForTaskToken` contract. The token lives only in this object: the runner
 * deletes it from process.env before any child process exists, and an SDK error this rethrows (which the runner
 * logs) never quotes it.
 */
import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
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
    private readonly sfn: SFNClient,
    private readonly taskToken: string,
  ) {}

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
   * Beats once at once, then every interval: the state machine's heartbeat window runs from the task's start, so
   * image pull and Fargate start already used part of it before the first interval would end.
   */
  start(): void {
    void this.beat();
    this.timer = setInterval(() => void this.beat(), this.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

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
