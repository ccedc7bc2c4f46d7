/**
 * A task's TimeoutSecondsPath is read from the state's input, as AWS reads it (the interpreter alone would read it from
 * the task's parameters): the approval window the state machine takes from Record Preview's gate.
 */
import { LocalStepFunctions } from '../../local/step-functions';

const ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:timeout-path';
const definition = {
  StartAt: 'Wait For Decision',
  States: {
    'Wait For Decision': {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      // The parameters do not carry the window: only the state input does.
      Parameters: { FunctionName: 'approver', Payload: { 'token.$': '$$.Task.Token', 'jobId.$': '$.jobId' } },
      TimeoutSecondsPath: '$.gate.approvalTimeoutSeconds',
      Catch: [{ ErrorEquals: ['States.Timeout'], ResultPath: '$.error', Next: 'Expired' }],
      End: true,
    },
    Expired: { Type: 'Pass', Result: 'expired', End: true },
  },
};

it('times a task out after the seconds its TimeoutSecondsPath names in the state input, and its token is gone then', async () => {
  const seen: unknown[] = [];
  const engine = new LocalStepFunctions({ stateMachineArn: ARN, definition, bindings: { 'Wait For Decision': ({ input }) => void seen.push(input) } });
  try {
    const started = Date.now();
    const { executionArn } = await engine.startExecution({
      stateMachineArn: ARN,
      name: 'job-1',
      input: JSON.stringify({ jobId: 'j1', gate: { approvalTimeoutSeconds: 1 } }),
    });
    await engine.waitFor(executionArn);
    const elapsed = Date.now() - started;
    const described = engine.describeExecution({ executionArn });
    expect(described.status).toBe('SUCCEEDED');
    expect(JSON.parse(described.output!)).toBe('expired');
    expect(elapsed).toBeGreaterThanOrEqual(900);
    // What the task's resource got is its parameters, nothing the engine added.
    expect(seen).toHaveLength(1);
    const payload = (seen[0] as { FunctionName: string; Payload: { token: string; jobId: string } }).Payload;
    expect(Object.keys(seen[0] as object).sort()).toEqual(['FunctionName', 'Payload']);
    expect(payload.jobId).toBe('j1');
    // As on AWS, a decision after the window finds no task.
    expect(() => engine.sendTaskSuccess({ taskToken: payload.token, output: '{}' })).toThrow(expect.objectContaining({ name: 'TaskDoesNotExist' }));
  } finally {
    await engine.stopAll();
  }
});

it('fails the execution as AWS does when the path names nothing in the state input', async () => {
  const engine = new LocalStepFunctions({ stateMachineArn: ARN, definition, bindings: { 'Wait For Decision': () => undefined } });
  try {
    const { executionArn } = await engine.startExecution({ stateMachineArn: ARN, name: 'job-2', input: JSON.stringify({ jobId: 'j2' }) });
    await engine.waitFor(executionArn);
    expect(engine.describeExecution({ executionArn }).status).toBe('FAILED');
  } finally {
    await engine.stopAll();
  }
});
