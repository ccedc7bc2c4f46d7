import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  TaskDoesNotExist,
} from '@aws-sdk/client-sfn';
import { GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { startProtocolServer, type ProtocolServer } from '../../local/aws-protocol-server';
import { LocalStepFunctions } from '../../local/step-functions';
import { LOCAL_CREDENTIALS } from '../../local/embedded-dynamo';

// A minimal definition exercising what the engine adds on top of the interpreter: per-task tokens, heartbeats, catch.
const ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:test';
const definition = {
  StartAt: 'Work',
  States: {
    Work: {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      Parameters: { FunctionName: 'worker', Payload: { 'TaskToken.$': '$$.Task.Token', 'value.$': '$.value' } },
      TimeoutSeconds: 60,
      HeartbeatSeconds: 1,
      Catch: [{ ErrorEquals: ['States.HeartbeatTimeout'], ResultPath: '$.error', Next: 'TimedOut' }],
      End: true,
    },
    TimedOut: { Type: 'Fail', Error: 'Worker.HeartbeatTimeout', Cause: 'no heartbeat' },
  },
};

let server: ProtocolServer;
let sfnEngine: LocalStepFunctions;
const tokens: string[] = [];
const ended: string[] = [];
const cfg = () => ({ endpoint: server.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });

beforeAll(async () => {
  sfnEngine = new LocalStepFunctions({
    stateMachineArn: ARN,
    definition,
    bindings: { Work: ({ input }) => void tokens.push((input as { Payload: { TaskToken: string } }).Payload.TaskToken) },
    onExecutionEnded: ({ name, status }) => void ended.push(`${name}:${status}`),
  });
  server = await startProtocolServer({ sfn: () => sfnEngine, secrets: { 'stackjobs/demo': 's3cr3t' } });
});
afterAll(async () => {
  await sfnEngine.stopAll();
  await server.stop();
});

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
};

describe('the local AWS JSON protocol endpoint', () => {
  it('runs an execution whose task token is resumed by the real SFN client, with a fresh token per task', async () => {
    const sfn = new SFNClient(cfg());
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn: ARN, name: 'job-1', input: JSON.stringify({ value: 42 }) }));
    await until(() => tokens.length === 1);
    expect(tokens[0]).not.toBe('local-static-task-token');
    await sfn.send(new SendTaskHeartbeatCommand({ taskToken: tokens[0] }));
    await sfn.send(new SendTaskSuccessCommand({ taskToken: tokens[0], output: JSON.stringify({ done: true }) }));
    await sfnEngine.waitFor(executionArn!);
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(described.status).toBe('SUCCEEDED');
    expect(JSON.parse(described.output!)).toEqual({ done: true });
    await expect(sfn.send(new SendTaskSuccessCommand({ taskToken: tokens[0], output: '{}' }))).rejects.toBeInstanceOf(TaskDoesNotExist);
    await expect(sfn.send(new StartExecutionCommand({ stateMachineArn: ARN, name: 'job-1', input: '{}' }))).rejects.toBeInstanceOf(ExecutionAlreadyExists);
    sfn.destroy();
  });

  it('fails a task whose heartbeats stop, and reports the ended execution like the aws.states rule', async () => {
    const sfn = new SFNClient(cfg());
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn: ARN, name: 'job-2', input: JSON.stringify({ value: 1 }) }));
    await sfnEngine.waitFor(executionArn!);
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(described.status).toBe('FAILED');
    expect(described.error).toBe('Worker.HeartbeatTimeout');
    expect(ended).toContain('job-2:FAILED');
    sfn.destroy();
  });

  it('serves secrets and keeps published events', async () => {
    const sm = new SecretsManagerClient(cfg());
    expect((await sm.send(new GetSecretValueCommand({ SecretId: 'stackjobs/demo' }))).SecretString).toBe('s3cr3t');
    await expect(sm.send(new GetSecretValueCommand({ SecretId: 'missing' }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    // One value per secret: no version before a rotation, as Secrets Manager answers for a secret never rotated.
    await expect(sm.send(new GetSecretValueCommand({ SecretId: 'stackjobs/demo', VersionStage: 'AWSPREVIOUS' }))).rejects.toBeInstanceOf(
      ResourceNotFoundException,
    );
    const eb = new EventBridgeClient(cfg());
    const out = await eb.send(
      new PutEventsCommand({
        Entries: [{ Source: 'stackjobs', DetailType: 'Stack Job Status Changed', Detail: JSON.stringify({ jobId: 'sj_1' }), EventBusName: 'bus' }],
      }),
    );
    expect(out.FailedEntryCount).toBe(0);
    expect(server.events.at(-1)).toMatchObject({ detailType: 'Stack Job Status Changed', detail: { jobId: 'sj_1' } });
    sm.destroy();
    eb.destroy();
  });
});
