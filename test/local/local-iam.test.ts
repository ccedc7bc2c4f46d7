/**
 * Local IAM (local/local-iam.ts): which deployed role sent a request to a stand-in, and whether that role allows it.
 * The end-to-end proof is every local-mode suite, whose jobs now run under the template's roles.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { actionAllowed, jsonActionOf, LocalIam, s3ActionsOf } from '../../local/local-iam';

const ENTRY = 'stackjobs:entry';
/** Two functions and the runner, as a synthesized template has them: roles, attached policies, entries. */
const TEMPLATE = {
  ReaderRole: { Type: 'AWS::IAM::Role', Properties: {} },
  ReaderPolicy: {
    Type: 'AWS::IAM::Policy',
    Properties: { Roles: [{ Ref: 'ReaderRole' }], PolicyDocument: { Statement: [{ Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:Query'] }] } },
  },
  Reader: { Type: 'AWS::Lambda::Function', Metadata: { [ENTRY]: 'reader.ts' }, Properties: { Role: { 'Fn::GetAtt': ['ReaderRole', 'Arn'] } } },
  StopperRole: {
    Type: 'AWS::IAM::Role',
    Properties: {
      Policies: [
        {
          PolicyDocument: {
            Statement: [
              { Effect: 'Allow', Action: 'ecs:StopTask' },
              { Effect: 'Deny', Action: 'dynamodb:*' },
            ],
          },
        },
      ],
    },
  },
  Stopper: { Type: 'AWS::Lambda::Function', Metadata: { [ENTRY]: 'stopper.ts' }, Properties: { Role: { 'Fn::GetAtt': ['StopperRole', 'Arn'] } } },
  TaskRole: {
    Type: 'AWS::IAM::Role',
    Properties: { Policies: [{ PolicyDocument: { Statement: [{ Effect: 'Allow', Action: ['s3:GetObject*', 's3:PutObject'] }] } }] },
  },
  Task: {
    Type: 'AWS::ECS::TaskDefinition',
    Properties: { TaskRoleArn: { 'Fn::GetAtt': ['TaskRole', 'Arn'] }, ContainerDefinitions: [{ Name: 'runner' }] },
  },
};

it('matches actions as IAM does: case-insensitive, with * and ? wildcards', () => {
  expect(actionAllowed(['s3:GetObject*'], 's3:GetObject')).toBe(true);
  expect(actionAllowed(['s3:GetObject*'], 's3:getobjectversion')).toBe(true);
  expect(actionAllowed(['dynamodb:Get?tem'], 'dynamodb:GetItem')).toBe(true);
  expect(actionAllowed(['dynamodb:GetItem'], 'dynamodb:GetItems')).toBe(false);
  expect(actionAllowed(['s3:*'], 'states:SendTaskSuccess')).toBe(false);
});

it('names the IAM action of S3 and JSON-protocol requests', () => {
  expect(s3ActionsOf('GET', '/bucket/jobs/sj/plan.json')).toEqual(['s3:GetObject']);
  expect(s3ActionsOf('HEAD', '/bucket/jobs/sj/plan.json')).toEqual(['s3:GetObject']);
  expect(s3ActionsOf('PUT', '/bucket/jobs/sj/log/00001')).toEqual(['s3:PutObject']);
  expect(s3ActionsOf('POST', '/bucket/jobs/sj/big?uploads')).toEqual(['s3:PutObject']);
  expect(s3ActionsOf('DELETE', '/bucket/jobs/sj/big?uploadId=1')).toEqual(['s3:AbortMultipartUpload']);
  expect(s3ActionsOf('DELETE', '/bucket/jobs/sj/plan.bin')).toEqual(['s3:DeleteObject']);
  expect(s3ActionsOf('POST', '/bucket?delete')).toEqual(['s3:DeleteObject']);
  expect(s3ActionsOf('GET', '/bucket?list-type=2&prefix=jobs/')).toEqual(['s3:ListBucket']);
  // Subresources and versions are their own actions; a copy reads its source too.
  expect(s3ActionsOf('GET', '/bucket/jobs/sj/plan.json?tagging')).toEqual(['s3:GetObjectTagging']);
  expect(s3ActionsOf('PUT', '/bucket/jobs/sj/plan.json?acl')).toEqual(['s3:PutObjectAcl']);
  expect(s3ActionsOf('GET', '/bucket/jobs/sj/plan.json?versionId=3')).toEqual(['s3:GetObjectVersion']);
  expect(s3ActionsOf('GET', '/bucket/jobs/sj/big?uploadId=1')).toEqual(['s3:ListMultipartUploadParts']);
  expect(s3ActionsOf('PUT', '/bucket/jobs/sj/big?partNumber=2&uploadId=1')).toEqual(['s3:PutObject']);
  expect(s3ActionsOf('GET', '/bucket?uploads')).toEqual(['s3:ListBucketMultipartUploads']);
  expect(s3ActionsOf('PUT', '/bucket/jobs/sj/copy', '/bucket/jobs/sj/plan.json')).toEqual(['s3:PutObject', 's3:GetObject']);
  expect(jsonActionOf('AWSStepFunctions.SendTaskSuccess')).toBe('states:SendTaskSuccess');
  expect(jsonActionOf('AmazonEC2ContainerServiceV20141113.StopTask')).toBe('ecs:StopTask');
  expect(jsonActionOf('DynamoDB_20120810.UpdateItem')).toBe('dynamodb:UpdateItem');
  expect(jsonActionOf('secretsmanager.GetSecretValue')).toBe('secretsmanager:GetSecretValue');
  expect(jsonActionOf('Unknown.Thing')).toBeUndefined();
});

describe('a stand-in finding who sent a request', () => {
  let iam: LocalIam;
  let server: Server;
  let endpoint: string;
  /** What the stand-in decided for each request it got: the denial, or 'allowed'. */
  const seen: string[] = [];
  /** The client port of each request, as the stand-in saw it. */
  const ports: number[] = [];
  beforeAll(async () => {
    iam = new LocalIam(TEMPLATE as never, ENTRY);
    server = createServer((req, res) => {
      const action = jsonActionOf(String(req.headers['x-amz-target'] ?? ''))!;
      const denied = iam.denial(action, req.socket.remotePort, undefined, 'RUNNERKEY');
      ports.push(req.socket.remotePort!);
      seen.push(denied ?? 'allowed');
      res.writeHead(denied ? 400 : 200, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify(denied ? { __type: 'com.amazon.coral.service#AccessDeniedException', message: denied } : { Item: { pk: { S: 'x' } } }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    iam.stop();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it("holds each function's request to its own role, on new and reused connections alike, and leaves others unchecked", async () => {
    // One client shared by every caller, as the functions' SDK clients are in local mode: one keep-alive socket.
    const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local' }, maxAttempts: 1 });
    const get = () => client.send(new GetItemCommand({ TableName: 't', Key: { pk: { S: 'x' } } }));
    await iam.run(iam.functionOf('reader.ts'), get);
    await expect(iam.run(iam.functionOf('stopper.ts'), get)).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: expect.stringContaining('assumed-role/StopperRole/Stopper is not authorized to perform: dynamodb:GetItem'),
    });
    await iam.run(iam.functionOf('reader.ts'), get);
    // Not a deployed role (local mode itself, a test's own client): not checked.
    await get();
    expect(seen).toEqual(['allowed', expect.stringContaining('StopperRole'), 'allowed', 'allowed']);
    // Tied to the port of that request: the runner's key still wins (another process may get the port later).
    await iam.run(iam.functionOf('stopper.ts'), get).catch(() => undefined);
    const port = ports.at(-1)!;
    expect(iam.denial('dynamodb:GetItem', port, undefined, 'RUNNERKEY')).toMatch(/StopperRole/);
    expect(iam.denial('states:SendTaskSuccess', port, 'RUNNERKEY', 'RUNNERKEY')).toMatch(/TaskRole/);
    // Closed, the port is forgotten: whoever is given it next is not taken for the function.
    client.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect(iam.denial('dynamodb:GetItem', port, undefined, 'RUNNERKEY')).toBeUndefined();
  });

  it('holds the runner, known by its access key id, to the task role', () => {
    expect(iam.denial('s3:GetObject', undefined, 'RUNNERKEY', 'RUNNERKEY')).toBeUndefined();
    expect(iam.denial('states:SendTaskSuccess', undefined, 'RUNNERKEY', 'RUNNERKEY')).toMatch(
      /assumed-role\/TaskRole\/Task is not authorized to perform: states:SendTaskSuccess/,
    );
    expect(iam.denial('states:SendTaskSuccess', undefined, 'SOMEONEELSE', 'RUNNERKEY')).toBeUndefined();
  });

  it('lets an explicit Deny win over an Allow', () => {
    const withDeny = new LocalIam(
      {
        ...TEMPLATE,
        TaskRole: {
          Type: 'AWS::IAM::Role',
          Properties: {
            Policies: [
              {
                PolicyDocument: {
                  Statement: [
                    { Effect: 'Allow', Action: 's3:*' },
                    { Effect: 'Deny', Action: 's3:Delete*' },
                  ],
                },
              },
            ],
          },
        },
      } as never,
      ENTRY,
    );
    expect(withDeny.denial('s3:PutObject', undefined, 'RUNNERKEY', 'RUNNERKEY')).toBeUndefined();
    expect(withDeny.denial('s3:DeleteObject', undefined, 'RUNNERKEY', 'RUNNERKEY')).toMatch(/with an explicit deny/);
    withDeny.stop();
  });
});
