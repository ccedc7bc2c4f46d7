/**
 * Local Step Functions: executes the ASL the CDK app synthesizes with aws-local-stepfunctions and keeps the
 * execution and task-token bookkeeping the service would (StartExecution by name, DescribeExecution,
 * StopExecution, SendTaskSuccess/Failure/Heartbeat with HeartbeatSeconds enforced), so the unchanged SDK calls in
 * the handlers and the runner work against it through the protocol server.
 */
import { randomUUID } from 'node:crypto';

import './promise-with-resolvers';
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded after the polyfill above, on purpose
const { StateMachine } = require('aws-local-stepfunctions') as typeof import('aws-local-stepfunctions');

type Json = ReturnType<typeof JSON.parse>;

/** An error the service would report by name (the SDK maps `__type` to an exception class). */

/** How long stopping waits for task handlers already running. */
const IN_FLIGHT_WAIT_MS = 10_000;
export class ServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
    this.name = type;
  }
}

/** How a Task state is carried out locally. `token` is minted per task for `.waitForTaskToken` resources. */
export type TaskBinding = (ctx: { stateName: string; input: Json; token?: string; executionArn: string; executionName: string }) => Promise<Json> | Json | void;

export interface LocalStepFunctionsOptions {
  stateMachineArn: string;
  definition: Record<string, unknown>;
  bindings: Record<string, TaskBinding>;
  /** Wait states shortened in local mode and tests (ms by state name). */
  waitTimeOverrides?: Record<string, number>;
  retryIntervalOverrides?: Record<string, number | number[]>;
  /** HeartbeatSeconds replaced per Task state (seconds by state name), so tests can time out a dead runner quickly. */
  heartbeatSecondsOverrides?: Record<string, number>;
  /** TimeoutSeconds replaced per Task state (whole seconds by state name), e.g. a short stack-lock park. */
  timeoutSecondsOverrides?: Record<string, number>;
  /** Called when an execution ends in FAILED, TIMED_OUT or ABORTED (the aws.states EventBridge rule in AWS). */
  onExecutionEnded?: (e: { executionArn: string; name: string; status: ExecutionStatus; input: Json }) => Promise<void> | void;
}

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

interface Execution {
  arn: string;
  name: string;
  input: Json;
  status: ExecutionStatus;
  startDate: Date;
  stopDate?: Date;
  output?: Json;
  error?: string;
  cause?: string;
  abort: () => void;
  done: Promise<void>;
  events: { type: string; state?: string; at: Date }[];
}

interface PendingTask {
  executionArn: string;
  stateName: string;
  resolve: (v: Json) => void;
  reject: (e: Error) => void;
  heartbeatMs?: number;
  timer?: NodeJS.Timeout;
}

const STATIC_TOKEN = 'local-static-task-token';

function replaceDeep(value: Json, from: string, to: string): Json {
  if (typeof value === 'string') return value === from ? to : value;
  if (Array.isArray(value)) return value.map((v) => replaceDeep(v, from, to));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceDeep(v as Json, from, to)]));
  return value;
}

type TaskState = { Resource?: string; HeartbeatSeconds?: number; TimeoutSeconds?: number; TimeoutSecondsPath?: string; Parameters?: Record<string, unknown> };

/**
 * AWS resolves a task's TimeoutSecondsPath against the state's input; the interpreter (aws-local-stepfunctions) against
 * the task's parameters. Each such path is copied into the parameters under this key, read from there, and taken out
 * again before a binding sees the parameters: the same definition times out the same way in both.
 */
const TIMEOUT_FROM_INPUT = '__stackjobsTimeoutSeconds';

/** Rewrites, in place, each task state's TimeoutSecondsPath for the interpreter (TIMEOUT_FROM_INPUT). */
export function timeoutFromStateInput(definition: Record<string, unknown>): void {
  for (const s of Object.values(taskStates(definition))) {
    if (!s.TimeoutSecondsPath) continue;
    s.Parameters = { ...(s.Parameters ?? {}), [`${TIMEOUT_FROM_INPUT}.$`]: s.TimeoutSecondsPath };
    s.TimeoutSecondsPath = `$.${TIMEOUT_FROM_INPUT}`;
  }
}

/** The parameters as the task's resource gets them, and the timeout its TimeoutSecondsPath named (if any). */
export function withoutTimeout(input: Json): { input: Json; pathSeconds?: number } {
  if (!input || typeof input !== 'object' || Array.isArray(input) || !(TIMEOUT_FROM_INPUT in input)) return { input };
  const { [TIMEOUT_FROM_INPUT]: seconds, ...rest } = input;
  return { input: rest, ...(typeof seconds === 'number' ? { pathSeconds: seconds } : {}) };
}

function taskStates(definition: Record<string, unknown>): Record<string, TaskState> {
  const states: Record<string, TaskState> = {};
  const walk = (def: { States?: Record<string, Record<string, unknown>> }) => {
    for (const [name, s] of Object.entries(def.States ?? {})) {
      if (s.Type === 'Task') states[name] = s as TaskState;
      for (const branch of (s.Branches as object[] | undefined) ?? []) walk(branch);
      if (s.ItemProcessor) walk(s.ItemProcessor as object);
      if (s.Iterator) walk(s.Iterator as object);
    }
  };
  walk(definition);
  return states;
}

/** Step Functions' limit on an execution's input, a state's output and a task's result (256 KiB of UTF-8). */
export const SFN_PAYLOAD_MAX_BYTES = 262_144;
const byteLength = (s: string) => Buffer.byteLength(s, 'utf8');

export class LocalStepFunctions {
  private readonly executions = new Map<string, Execution>();
  private readonly tasks = new Map<string, PendingTask>();
  private shuttingDown = false;
  /** Task handlers running now (a Lambda step, a runner start): stopping waits for them before the stores close. */
  private readonly inFlight = new Set<Promise<unknown>>();

  private track<T>(result: T | Promise<T>): Promise<T> {
    // A binding may answer synchronously.
    const work = Promise.resolve(result);
    this.inFlight.add(work);
    work.then(
      () => this.inFlight.delete(work),
      () => this.inFlight.delete(work),
    );
    return work;
  }
  private readonly machine: InstanceType<typeof StateMachine>;
  private readonly states: ReturnType<typeof taskStates>;

  constructor(private readonly options: LocalStepFunctionsOptions) {
    // A JSON copy, not structuredClone: the interpreter only resolves objects of this realm's Object.prototype (jest runs a vm).
    const definition = JSON.parse(JSON.stringify(options.definition)) as { States: Record<string, Record<string, unknown>> };
    for (const [name, seconds] of Object.entries(options.timeoutSecondsOverrides ?? {})) {
      if (definition.States[name]?.Type !== 'Task') throw new Error(`local step functions: no Task state ${name} to override the timeout of`);
      if (!Number.isInteger(seconds) || seconds < 1)
        throw new Error(`local step functions: the timeout of ${name} must be a whole number of seconds (at least 1), got ${seconds}`);
      definition.States[name].TimeoutSeconds = seconds;
    }
    timeoutFromStateInput(definition);
    this.machine = new StateMachine(definition as never, { validationOptions: { checkArn: false, checkPaths: true } });
    this.states = taskStates(definition);
    const unbound = Object.keys(this.states).filter((s) => !options.bindings[s]);
    if (unbound.length > 0) throw new Error(`local step functions: no binding for task state(s) ${unbound.join(', ')}`);
  }

  private handlerFor(stateName: string, exec: () => Execution) {
    const resource = this.states[stateName].Resource ?? '';
    const waits = resource.endsWith('.waitForTaskToken');
    const heartbeatSeconds = this.options.heartbeatSecondsOverrides?.[stateName] ?? this.states[stateName].HeartbeatSeconds;
    return async (parameters: Json): Promise<Json> => {
      const { input, pathSeconds } = withoutTimeout(parameters);
      const timeoutSeconds = this.states[stateName].TimeoutSeconds ?? pathSeconds;
      const e = exec();
      e.events.push({ type: 'TaskScheduled', state: stateName, at: new Date() });
      if (!waits) {
        const out = await this.track(this.options.bindings[stateName]({ stateName, input, executionArn: e.arn, executionName: e.name }));
        return this.withinDataLimit(e, stateName, input, (out ?? null) as Json);
      }
      const token = `${randomUUID()}${randomUUID()}`.replace(/-/g, '');
      let timeout: NodeJS.Timeout | undefined;
      const result = new Promise<Json>((resolve, reject) => {
        const pending: PendingTask = { executionArn: e.arn, stateName, resolve, reject, heartbeatMs: heartbeatSeconds ? heartbeatSeconds * 1000 : undefined };
        this.tasks.set(token, pending);
        this.armHeartbeat(token);
        // The interpreter times the task out too; this makes the token invalid then, as the service does
        // (SendTaskSuccess on it answers TaskDoesNotExist instead of resolving a task nobody waits for).
        if (timeoutSeconds) {
          timeout = setTimeout(() => {
            this.tasks.delete(token);
            reject(Object.assign(new Error(`task timed out after ${timeoutSeconds} s`), { name: 'States.Timeout' }));
          }, timeoutSeconds * 1000);
          timeout.unref();
        }
      });
      result.catch(() => undefined);
      const cleanup = () => {
        const t = this.tasks.get(token);
        if (t?.timer) clearTimeout(t.timer);
        if (timeout) clearTimeout(timeout);
        this.tasks.delete(token);
      };
      try {
        await this.track(
          this.options.bindings[stateName]({
            stateName,
            input: replaceDeep(input, STATIC_TOKEN, token),
            token,
            executionArn: e.arn,
            executionName: e.name,
          }),
        );
      } catch (err) {
        cleanup();
        throw err;
      }
      try {
        return this.withinDataLimit(e, stateName, input, await result);
      } finally {
        cleanup();
      }
    };
  }

  /**
   * Step Functions fails the execution (States.DataLimitExceeded, which no Catch handles) when a state's result would
   * take its output past 256 KB. The result is merged into the input by ResultPath, so input + result bounds the output.
   */
  private withinDataLimit(e: Execution, stateName: string, input: Json, result: Json): Json {
    const size = byteLength(JSON.stringify(input ?? null)) + byteLength(JSON.stringify(result ?? null));
    if (size <= SFN_PAYLOAD_MAX_BYTES) return result;
    if (e.status === 'RUNNING') {
      e.status = 'FAILED';
      e.error = 'States.DataLimitExceeded';
      e.cause = `the output of state ${stateName} is over ${SFN_PAYLOAD_MAX_BYTES} bytes (about ${size})`;
      e.stopDate = new Date();
      e.abort();
    }
    throw Object.assign(new Error(e.cause), { name: 'States.DataLimitExceeded' });
  }

  private armHeartbeat(token: string): void {
    const t = this.tasks.get(token);
    if (!t?.heartbeatMs) return;
    if (t.timer) clearTimeout(t.timer);
    t.timer = setTimeout(() => {
      this.tasks.delete(token);
      const err = new Error(`no heartbeat for ${t.heartbeatMs} ms`);
      err.name = 'States.HeartbeatTimeout';
      t.reject(err);
    }, t.heartbeatMs);
    t.timer.unref();
  }

  async startExecution(req: { stateMachineArn: string; name?: string; input?: string }): Promise<{ executionArn: string; startDate: number }> {
    if (req.stateMachineArn !== this.options.stateMachineArn)
      throw new ServiceError('StateMachineDoesNotExist', `state machine ${req.stateMachineArn} does not exist`);
    if (byteLength(req.input ?? '') > SFN_PAYLOAD_MAX_BYTES)
      throw new ServiceError('InvalidExecutionInput', `the execution input is over Step Functions' ${SFN_PAYLOAD_MAX_BYTES}-byte limit`);
    const name = req.name ?? randomUUID();
    const arn = `${this.options.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    if (this.executions.has(arn)) throw new ServiceError('ExecutionAlreadyExists', `execution ${name} already exists`);
    let input: Json;
    try {
      input = JSON.parse(req.input ?? '{}');
    } catch {
      throw new ServiceError('InvalidExecutionInput', 'input is not JSON');
    }
    // Registered before the run starts: the interpreter enters the first Task synchronously.
    const execution: Execution = { arn, name, input, status: 'RUNNING', startDate: new Date(), abort: () => undefined, done: Promise.resolve(), events: [] };
    this.executions.set(arn, execution);
    const bindings = Object.fromEntries(Object.keys(this.states).map((s) => [s, this.handlerFor(s, () => execution)]));
    const run = this.machine.run(input, {
      context: { Execution: { Id: arn, Name: name, Input: input, StartTime: new Date().toISOString() }, Task: { Token: STATIC_TOKEN } } as never,
      overrides: {
        taskResourceLocalHandlers: bindings,
        waitTimeOverrides: this.options.waitTimeOverrides,
        retryIntervalOverrides: this.options.retryIntervalOverrides,
      },
      noThrowOnAbort: true,
    });
    execution.abort = run.abort;
    void (async () => {
      for await (const ev of run.eventLogs) execution.events.push({ type: ev.type, state: (ev as { state?: { name?: string } }).state?.name, at: new Date() });
    })().catch(() => undefined);
    execution.done = run.result
      .then(
        (output) => {
          if (execution.status !== 'RUNNING') return;
          execution.status = 'SUCCEEDED';
          execution.output = output;
        },
        (err: Error & { cause?: unknown }) => {
          if (execution.status !== 'RUNNING') return;
          execution.status = err.name === 'ExecutionTimeoutError' ? 'TIMED_OUT' : 'FAILED';
          execution.error = (err as { cause?: { name?: string } }).cause?.name ?? err.name;
          execution.cause = (err as { cause?: { message?: string } }).cause?.message ?? err.message;
        },
      )
      .then(async () => {
        execution.stopDate ??= new Date();
        if (execution.status !== 'SUCCEEDED' && !this.shuttingDown)
          await this.options.onExecutionEnded?.({ executionArn: arn, name, status: execution.status, input });
      });
    return { executionArn: arn, startDate: execution.startDate.getTime() / 1000 };
  }

  describeExecution(req: { executionArn: string }) {
    const e = this.executions.get(req.executionArn);
    if (!e) throw new ServiceError('ExecutionDoesNotExist', `execution ${req.executionArn} does not exist`);
    return {
      executionArn: e.arn,
      stateMachineArn: this.options.stateMachineArn,
      name: e.name,
      status: e.status,
      startDate: e.startDate.getTime() / 1000,
      ...(e.stopDate ? { stopDate: e.stopDate.getTime() / 1000 } : {}),
      input: JSON.stringify(e.input),
      ...(e.output !== undefined ? { output: JSON.stringify(e.output) } : {}),
      ...(e.error ? { error: e.error, cause: e.cause } : {}),
    };
  }

  async stopExecution(req: { executionArn: string; error?: string; cause?: string }) {
    const e = this.executions.get(req.executionArn);
    if (!e) throw new ServiceError('ExecutionDoesNotExist', `execution ${req.executionArn} does not exist`);
    if (e.status === 'RUNNING') {
      e.status = 'ABORTED';
      e.error = req.error;
      e.cause = req.cause;
      e.stopDate = new Date();
      for (const [token, t] of this.tasks) if (t.executionArn === e.arn) this.tasks.delete(token);
      e.abort();
    }
    return { stopDate: (e.stopDate ?? new Date()).getTime() / 1000 };
  }

  private task(token: string): PendingTask {
    const t = this.tasks.get(token);
    if (!t) throw new ServiceError('TaskDoesNotExist', 'the task token is not valid or the task has completed');
    return t;
  }

  sendTaskSuccess(req: { taskToken: string; output: string }) {
    const t = this.task(req.taskToken);
    if (byteLength(req.output) > SFN_PAYLOAD_MAX_BYTES) {
      throw new ServiceError(
        'ValidationException',
        `1 validation error detected: Value at 'output' failed to satisfy constraint: Member must have length less than or equal to ${SFN_PAYLOAD_MAX_BYTES}`,
      );
    }
    let output: Json;
    try {
      output = JSON.parse(req.output);
    } catch {
      throw new ServiceError('InvalidOutput', 'output is not JSON');
    }
    this.tasks.delete(req.taskToken);
    t.resolve(output);
    return {};
  }

  sendTaskFailure(req: { taskToken: string; error?: string; cause?: string }) {
    const t = this.task(req.taskToken);
    this.tasks.delete(req.taskToken);
    const err = new Error(req.cause ?? '');
    err.name = req.error ?? 'States.TaskFailed';
    t.reject(err);
    return {};
  }

  sendTaskHeartbeat(req: { taskToken: string }) {
    this.task(req.taskToken);
    this.armHeartbeat(req.taskToken);
    return {};
  }

  /** The execution's event log (state entered/exited, task scheduled...): what the cost benchmark counts. */
  history(executionArn: string) {
    return this.executions.get(executionArn)?.events ?? [];
  }

  /** Waits for an execution to finish (tests and the demo). */
  async waitFor(executionArn: string): Promise<void> {
    await this.executions.get(executionArn)?.done;
  }

  /** Aborts every running execution (shutdown). The ended-execution hook is not called: nothing is left to clean with. */
  async stopAll(): Promise<void> {
    this.shuttingDown = true;
    for (const e of this.executions.values())
      if (e.status === 'RUNNING') await this.stopExecution({ executionArn: e.arn, error: 'LocalShutdown', cause: 'local mode stopped' });
    // Tasks still waiting on a token are not settled: settling one would let its execution run its Catch path
    // (job writes) against stores that are being closed. Their heartbeat timers are cleared; the interpreter's own task
    // timeout of a waiting approval stays, so `npm run local` exits explicitly and tests end such jobs before stopping.
    for (const t of this.tasks.values()) if (t.timer) clearTimeout(t.timer);
    this.tasks.clear();
    // A step already running (a lock release after its job completed, say) finishes its writes before the stores
    // close: a write into a closed dynalite throws outside any caller and ends the process. Bounded, so a step stuck on
    // a store cannot hold shutdown.
    let bound: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise((resolve) => {
        bound = setTimeout(resolve, IN_FLIGHT_WAIT_MS);
        bound.unref();
      }),
    ]);
    clearTimeout(bound);
  }
}
