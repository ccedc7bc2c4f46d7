/**
 * Infra tier: one synthesized template (with cdk-nag on) shared by every assertion in this file, since a synth
 * costs seconds. Asserts what matters: encryption, public access, PITR, the approval and runner tasks, IAM scope,
 * the inbound rule's delivery policy, the API's authorization, cdk-nag and asl-validator.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { Validations } from 'aws-cdk-lib';
import aslValidator from 'asl-validator';
import { CATALOG_TABLE, JOBS_INDEX_OPEN_BY_STACK, JOBS_TABLE } from '../../lambdas/adapters/dynamodb/table-definitions';
import { taskTokenKey } from '../../lambdas/adapters/dynamodb/keys';
import { extractStateMachine, OFFLINE_CONTEXT, type AslState, type CfnTemplate } from '../../infra/asl';
import { buildStackJobsApp } from '../../infra/build';
import { INBOUND_MAX_EVENT_AGE, INBOUND_RETRY_ATTEMPTS, RUNNER_STOPPED_MAX_EVENT_AGE, RUNNER_STOPPED_RETRY_ATTEMPTS } from '../../infra/constructs/events';
import { RESOURCE_CHANGED } from '../../lambdas/events/resource-changed';
import { MAX_TASK_TIMEOUT_SECONDS, STATE } from '../../infra/constructs/state-machine';
import type { StackJobsStack } from '../../infra/stack-jobs-stack';
import { API_METHODS } from '../../infra/constructs/api';
import { ENTRY_METADATA } from '../../infra/constructs/stack-jobs-function';
import { routeDefinitions } from '../../lambdas/api/routes';

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, unknown>;
}

let stack: StackJobsStack;
let template: Template;
let json: CfnTemplate & { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
let nagViolations: unknown[];
let assemblyDir: string;

beforeAll(() => {
  const app = new App({ context: OFFLINE_CONTEXT });
  stack = buildStackJobsApp(app, { nag: true });
  const assembly = app.synth(); // throws on any unacknowledged cdk-nag finding
  assemblyDir = assembly.directory;
  const report = path.join(assembly.directory, 'validation-report.json');
  nagViolations = fs.existsSync(report)
    ? (JSON.parse(fs.readFileSync(report, 'utf8')) as { pluginReports: Array<{ violations: unknown[] }> }).pluginReports.flatMap((p) => p.violations)
    : [];
  template = Template.fromStack(stack);
  json = template.toJSON() as typeof json;
});

const idOf = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as never);
/** The functions of this code base (StackJobsFunction), not CDK's own custom-resource handlers. */
const stackJobsFunctions = (t: typeof json) =>
  Object.values(t.Resources).filter((r) => r.Type === 'AWS::Lambda::Function' && (r as { Metadata?: Record<string, unknown> }).Metadata?.[ENTRY_METADATA]);
const ofType = (type: string) => Object.entries(json.Resources).filter(([, r]) => r.Type === type);

/** Every statement of every policy attached to a role. */
function statementsOf(roleLogicalId: string): Statement[] {
  return ofType('AWS::IAM::Policy')
    .filter(([, r]) => (r.Properties.Roles as Array<{ Ref: string }>).some((x) => x.Ref === roleLogicalId))
    .flatMap(([, r]) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}
const actionsOf = (s: Statement) => [s.Action].flat();
const resourcesOf = (s: Statement) => [s.Resource].flat().map((r) => JSON.stringify(r));

function states(): Record<string, AslState> {
  return extractStateMachine(json).definition.States;
}

describe('cdk-nag', () => {
  it('reports no unacknowledged AwsSolutions finding on the whole app', () => {
    expect(nagViolations).toEqual([]);
  });

  it('is really wired: the same plugin fails a bucket without access logs or TLS enforcement', () => {
    const app = new App();
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    new s3.Bucket(new Stack(app, 'Bad'), 'Open'); // no access logs, no TLS enforcement
    expect(() => app.synth()).toThrow();
  });
});

describe('storage', () => {
  it('builds both tables from table-definitions.ts, on demand, with PITR and deletion protection', () => {
    for (const [construct, def] of [
      [stack.storage.jobsTable, JOBS_TABLE],
      [stack.storage.catalogTable, CATALOG_TABLE],
    ] as const) {
      const props = json.Resources[idOf(construct)].Properties;
      expect(props.KeySchema).toEqual([
        { AttributeName: def.partitionKey.name, KeyType: 'HASH' },
        { AttributeName: def.sortKey.name, KeyType: 'RANGE' },
      ]);
      expect(((props.GlobalSecondaryIndexes as Array<{ IndexName: string }>) ?? []).map((i) => i.IndexName)).toEqual(def.indexes.map((i) => i.indexName));
      expect(props.BillingMode).toBe('PAY_PER_REQUEST');
      expect(props.Replicas).toEqual([
        expect.objectContaining({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true }, DeletionProtectionEnabled: true }),
      ]);
      expect(props.SSESpecification).toEqual(expect.objectContaining({ SSEEnabled: true }));
    }
  });

  it("gives the jobs table's indexes exactly the projections of table-definitions.ts: keys only, so a status write costs no index write", () => {
    const indexes = json.Resources[idOf(stack.storage.jobsTable)].Properties.GlobalSecondaryIndexes as Array<{ IndexName: string; Projection: unknown }>;
    expect(indexes.map((i) => [i.IndexName, i.Projection])).toEqual([
      ['byStackKeys', { ProjectionType: 'KEYS_ONLY' }],
      ['byOrgKeys', { ProjectionType: 'KEYS_ONLY' }],
      ['openByStackKeys', { ProjectionType: 'KEYS_ONLY' }],
    ]);
    expect(JOBS_TABLE.indexes.map((i) => [i.indexName, i.projection])).toEqual(indexes.map((i) => [i.IndexName, { type: 'KEYS_ONLY' }]));
  });

  it('encrypts the artifacts bucket with its KMS key, blocks public access, versions it and logs access', () => {
    const props = json.Resources[idOf(stack.storage.artifactsBucket)].Properties;
    expect(props.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [
        {
          BucketKeyEnabled: true,
          ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [idOf(stack.storage.artifactsKey), 'Arn'] } },
        },
      ],
    });
    expect(props.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(props.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(props.LoggingConfiguration).toEqual(expect.objectContaining({ DestinationBucketName: expect.anything() }));
    const rules = (props.LifecycleConfiguration as { Rules: Array<{ Id: string }> }).Rules.map((r) => r.Id);
    expect(rules).toEqual(expect.arrayContaining(['expire-logs', 'expire-plans']));
  });

  it('denies any request to the artifacts bucket that is not over TLS', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: idOf(stack.storage.artifactsBucket) },
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });
});

describe('state machine', () => {
  it('is accepted by asl-validator (ARNs and paths checked)', () => {
    const { definition } = extractStateMachine(json);
    const { isValid, errorsText } = aslValidator(definition as never, { checkArn: true, checkPaths: true });
    expect(errorsText()).toBe('');
    expect(isValid).toBe(true);
  });

  it('uses JSONPath only, and gives every Task an explicit timeout no larger than the local interpreter allows', () => {
    const { definition } = extractStateMachine(json);
    expect(JSON.stringify(definition)).not.toMatch(/JSONata|"Assign"|"Arguments"|"Output"/);
    const taskStates = Object.entries(definition.States).filter(([, s]) => s.Type === 'Task');
    expect(taskStates.length).toBeGreaterThanOrEqual(8);
    for (const [name, s] of taskStates) {
      if (name === STATE.requestApproval) expect(s.TimeoutSecondsPath).toBeDefined();
      else expect({ name, timeout: s.TimeoutSeconds }).toEqual({ name, timeout: expect.any(Number) });
      if (s.TimeoutSeconds !== undefined) expect(s.TimeoutSeconds).toBeLessThanOrEqual(MAX_TASK_TIMEOUT_SECONDS);
    }
  });

  it('catches everything on every Task and retries only named transient errors', () => {
    for (const [name, s] of Object.entries(states()).filter(([, st]) => st.Type === 'Task')) {
      const catches = (s.Catch as Array<{ ErrorEquals: string[] }>).map((c) => c.ErrorEquals).flat();
      expect({ name, catchesAll: catches.includes('States.ALL') }).toEqual({ name, catchesAll: true });
      const retried = ((s.Retry as Array<{ ErrorEquals: string[] }>) ?? []).flatMap((r) => r.ErrorEquals);
      expect(retried.filter((e) => e === 'States.ALL' || e === 'States.TaskFailed' || e === 'States.Timeout')).toEqual([]);
    }
  });

  it('waits for the approval with a task token in the payload and the policy window as the timeout', () => {
    const s = states()[STATE.requestApproval];
    expect(s.Resource).toBe('arn:aws:states:::lambda:invoke.waitForTaskToken');
    expect(s.Parameters).toEqual({
      FunctionName: expect.stringContaining('ApprovalsRequestApprovalFunction'),
      Payload: {
        'jobId.$': '$.jobId',
        'taskToken.$': '$$.Task.Token',
        'planDigest.$': '$.gate.planDigest',
        'approvalTimeoutSeconds.$': '$.gate.approvalTimeoutSeconds',
      },
    });
    // The window is the job's policy, in the gate Record Preview wrote: read straight from the state input.
    expect(s.TimeoutSecondsPath).toBe('$.gate.approvalTimeoutSeconds');
    expect((states()[STATE.previewOutcome].Choices as Array<{ StringEquals: string; Next: string }>).find((c) => c.StringEquals === 'approval')?.Next).toBe(
      STATE.requestApproval,
    );
    expect(s.TimeoutSeconds).toBeUndefined();
    const catches = (s.Catch as Array<{ ErrorEquals: string[]; Next: string }>).map((c) => [c.ErrorEquals.join(), c.Next]);
    expect(catches).toEqual([
      ['StackJob.Rejected', STATE.rejected],
      ['States.Timeout', STATE.approvalExpired],
      ['StackJob.Cancelled', STATE.approvalCancelled],
      ['States.ALL', STATE.approvalFailed],
    ]);
  });

  it('runs the runner with the token in its environment, a 300 s heartbeat, and retries only ECS launch refusals', () => {
    for (const [name, phase] of [
      [STATE.runPreview, 'preview'],
      [STATE.runUpdate, 'update'],
      [STATE.runPreviewOnOrgRunner, 'preview'],
      [STATE.runUpdateOnOrgRunner, 'update'],
      [STATE.runPreviewAndUpdate, 'preview+update'],
      [STATE.runPreviewAndUpdateOnOrgRunner, 'preview+update'],
    ] as const) {
      const s = states()[name];
      expect(s.Resource).toBe('arn:aws:states:::ecs:runTask.waitForTaskToken');
      expect(s.HeartbeatSeconds).toBe(300);
      expect(s.Retry).toEqual([{ ErrorEquals: ['ECS.AmazonECSException'], IntervalSeconds: 15, MaxAttempts: 5, BackoffRate: 2 }]);
      const env = (s.Parameters as { Overrides: { ContainerOverrides: Array<{ Environment: Array<Record<string, string>> }> } }).Overrides.ContainerOverrides[0]
        .Environment;
      const byName = Object.fromEntries(env.map((e) => [e.Name, e.Value ?? e['Value.$']]));
      expect(byName).toEqual({
        STACKJOBS_JOB_ID: '$.jobId',
        STACKJOBS_PHASE: phase === 'update' ? 'update' : 'preview',
        ...(phase === 'preview+update' ? { STACKJOBS_THEN_UPDATE: 'true' } : {}),
        STACKJOBS_TASK_TOKEN: '$$.Task.Token',
        STACKJOBS_JOBS_TABLE: expect.stringContaining('JobsTable'),
        STACKJOBS_ARTIFACTS_BUCKET: expect.stringContaining('ArtifactsBucket'),
        // One task: each command gets the longer phase's timeout, the task both phases' (2 h + 4 h).
        STACKJOBS_OPERATION_TIMEOUT_SECONDS: phase === 'preview+update' ? '14400' : String(s.TimeoutSeconds),
        STACKJOBS_STATE_ROLE_ARN: expect.stringContaining('StateAccessRole'),
        STACKJOBS_DEPLOYMENT_ID: expect.stringContaining('StackJobs'),
        STACKJOBS_GRACE_SECONDS: '90',
        ...(phase === 'update' ? { STACKJOBS_PLAN_DIGEST: '$.gate.planDigest' } : {}),
      });
    }
  });

  it('chooses the org runner task when acquire-lock recorded an org placement, else the platform task', () => {
    const all = states();
    const lockRules = (all[STATE.lockAcquired].Choices as Array<{ Variable: string; StringEquals?: string; Next: string }>).filter(
      (c) => c.Variable === '$.lock.next',
    );
    const fromLock = Object.fromEntries(lockRules.map((c) => [c.StringEquals, c.Next]));
    // Lock Acquired starts the preview (or the one-task run) itself, on the task acquire-lock chose; the update keeps
    // its own Choice, since three states lead to it.
    expect(fromLock).toEqual({
      preview: STATE.runPreview,
      preview_on_org: STATE.runPreviewOnOrgRunner,
      one_task: STATE.runPreviewAndUpdate,
      one_task_on_org: STATE.runPreviewAndUpdateOnOrgRunner,
      update: STATE.skipPreview,
      release: STATE.releaseLock,
    });
    expect(all[STATE.updateRunner]).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.lock.runner', StringEquals: 'org', Next: STATE.runUpdateOnOrgRunner }],
      Default: STATE.runUpdate,
    });
    for (const [org, platform, timeout, failed, next] of [
      [STATE.runPreviewOnOrgRunner, STATE.runPreview, 7200, STATE.previewFailed, STATE.recordPreview],
      [STATE.runUpdateOnOrgRunner, STATE.runUpdate, 14400, STATE.updateFailed, STATE.updated],
      [STATE.runPreviewAndUpdateOnOrgRunner, STATE.runPreviewAndUpdate, 21600, STATE.previewFailed, STATE.recordPreview],
    ] as const) {
      const o = all[org];
      const p = all[platform];
      expect(o.Resource).toBe('arn:aws:states:::ecs:runTask.waitForTaskToken');
      // Placement from the state (acquire-lock's result), never from the stack; same launch type and container contract.
      expect(o.Parameters).toEqual(
        expect.objectContaining({
          'Cluster.$': '$.lock.orgRunner.cluster',
          'TaskDefinition.$': '$.lock.orgRunner.taskDefinition',
          LaunchType: 'FARGATE',
          NetworkConfiguration: {
            AwsvpcConfiguration: { 'Subnets.$': '$.lock.orgRunner.subnets', 'SecurityGroups.$': '$.lock.orgRunner.securityGroups', AssignPublicIp: 'DISABLED' },
          },
          Overrides: (p.Parameters as Record<string, unknown>).Overrides,
        }),
      );
      expect(o.Parameters).not.toHaveProperty('Cluster');
      expect(o.Parameters).not.toHaveProperty('TaskDefinition');
      for (const key of ['TimeoutSeconds', 'HeartbeatSeconds', 'Retry', 'Catch', 'ResultPath', 'Next'] as const)
        expect([org, key, o[key]]).toEqual([org, key, p[key]]);
      expect(o.TimeoutSeconds).toBe(timeout);
      expect(o.Next).toBe(next);
      expect(o.Catch).toEqual([
        { ErrorEquals: ['StackJob.Cancelled'], ResultPath: '$.error', Next: STATE.runnerCancelled },
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: failed },
      ]);
    }
    // The preview and one-task tasks are reached from Lock Acquired only, the update's from its Choice only.
    const leadsTo = (task: string) =>
      Object.entries(all)
        .filter(([, st]) => JSON.stringify(st).includes(`"Next":"${task}"`) || st.Default === task)
        .map(([n]) => n);
    for (const task of [STATE.runPreview, STATE.runPreviewOnOrgRunner, STATE.runPreviewAndUpdate, STATE.runPreviewAndUpdateOnOrgRunner])
      expect([task, leadsTo(task)]).toEqual([task, [STATE.lockAcquired]]);
    for (const task of [STATE.runUpdate, STATE.runUpdateOnOrgRunner]) expect([task, leadsTo(task)]).toEqual([task, [STATE.updateRunner]]);
  });

  it('ends a job a plan policy stopped from the Preview Outcome choice, through Finish Job, before any approval', () => {
    const choice = states()[STATE.previewOutcome] as unknown as { Choices: Array<{ Variable: string; StringEquals: string; Next: string }> };
    const next = Object.fromEntries(choice.Choices.map((c) => [c.StringEquals, c.Next]));
    expect(next).toMatchObject({ policy_denied: STATE.policyDenied, policy_failed: STATE.policyCheckFailed });
    expect(states()[STATE.policyDenied]).toEqual({ Type: 'Pass', Parameters: { kind: 'policy_denied' }, ResultPath: '$.outcome', Next: STATE.finishJob });
    expect(states()[STATE.policyCheckFailed]).toEqual({ Type: 'Pass', Parameters: { kind: 'policy_failed' }, ResultPath: '$.outcome', Next: STATE.finishJob });
  });

  it('bounds the stack-lock wait loop', () => {
    const choice = states()[STATE.lockAcquired] as unknown as { Choices: Array<{ Variable: string; NumericLessThan?: number; Next: string }>; Default: string };
    const bound = choice.Choices.find((c) => c.NumericLessThan !== undefined);
    expect(bound).toEqual({ Variable: '$.lock.attempts', NumericLessThan: 48, Next: STATE.waitForLock });
    expect(choice.Default).toBe(STATE.lockWaitExceeded);
  });

  it('parks a waiting job on a task token (no polling) and goes back to the lock when woken or when the park times out', () => {
    const park = states()[STATE.waitForLock] as unknown as {
      Type: string;
      Resource: string;
      TimeoutSeconds: number;
      Parameters: { Payload: Record<string, unknown> };
      Next: string;
      Catch: Array<{ ErrorEquals: string[]; Next: string }>;
    };
    expect(park.Type).toBe('Task');
    expect(park.Resource).toMatch(/:states:::lambda:invoke\.waitForTaskToken$/);
    expect(park.Parameters.Payload).toEqual({ action: 'parkForLock', 'jobId.$': '$.jobId', 'taskToken.$': '$$.Task.Token' });
    expect(park.TimeoutSeconds).toBe(300);
    expect(park.Next).toBe(STATE.acquireLock);
    expect(park.Catch[0]).toEqual(expect.objectContaining({ ErrorEquals: ['States.Timeout'], Next: STATE.acquireLock }));
    expect(Object.values(states()).some((st) => (st as { Type: string }).Type === 'Wait')).toBe(false);
  });

  it('lets the step and cleanup functions wake parked jobs of this state machine only', () => {
    const smRef = { Ref: idOf(stack.orchestration.stateMachine) };
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: [{ Action: 'states:SendTaskSuccess', Effect: 'Allow', Resource: smRef }] },
      Roles: Match.arrayWith([{ Ref: idOf(stack.orchestration.stepFunction.executionRole) }, { Ref: idOf(stack.orchestration.cleanupFunction.executionRole) }]),
    });
  });

  it('runs every function on Node.js 22, the runtime the code is bundled for', () => {
    const runtimes = stackJobsFunctions(json).map((r) => r.Properties.Runtime);
    expect(runtimes.length).toBeGreaterThanOrEqual(6);
    expect(new Set(runtimes)).toEqual(new Set(['nodejs22.x']));
  });

  it("gives every function the one AWS SDK layer (the lockfile's SDK, Node.js 22, arm64), and none with stackjobs:awsSdk=bundle", () => {
    // The other layer is the AWS CLI of CDK's upload function (the web console's BucketDeployment).
    const layers = ofType('AWS::Lambda::LayerVersion').filter(([, l]) => l.Properties.Description !== '/opt/awscli/aws');
    expect(layers).toHaveLength(1);
    const [layerId, layer] = layers[0];
    expect(layer.Properties).toMatchObject({ CompatibleRuntimes: ['nodejs22.x'], CompatibleArchitectures: ['arm64'] });
    const functions = stackJobsFunctions(json);
    expect(functions.length).toBeGreaterThanOrEqual(6);
    for (const f of functions) expect(f.Properties.Layers).toEqual([{ Ref: layerId }]);

    const app = new App({ context: { ...OFFLINE_CONTEXT, 'stackjobs:awsSdk': 'bundle' } });
    const bundled = Template.fromStack(buildStackJobsApp(app, { nag: false })).toJSON() as typeof json;
    expect(Object.values(bundled.Resources).filter((r) => r.Type === 'AWS::Lambda::LayerVersion' && r.Properties.Description !== '/opt/awscli/aws')).toEqual(
      [],
    );
    expect(stackJobsFunctions(bundled).filter((r) => r.Properties.Layers !== undefined)).toEqual([]);
  });

  it('maps every Task state to the handler or runner phase it runs', () => {
    const { tasks } = extractStateMachine(json);
    expect(tasks[STATE.requestApproval]).toEqual({ kind: 'lambda', entry: 'lambdas/workflow/request-approval.handler.ts', waitForTaskToken: true });
    expect(tasks[STATE.acquireLock]).toEqual({ kind: 'lambda', entry: 'lambdas/workflow/step.handler.ts', waitForTaskToken: false });
    expect(tasks[STATE.runPreview]).toEqual({ kind: 'runner', phase: 'preview' });
    expect(tasks[STATE.runUpdate]).toEqual({ kind: 'runner', phase: 'update' });
    expect(tasks[STATE.runPreviewOnOrgRunner]).toEqual({ kind: 'runner', phase: 'preview' });
    expect(tasks[STATE.runUpdateOnOrgRunner]).toEqual({ kind: 'runner', phase: 'update' });
  });

  it('logs every event but never execution data (task states carry the token), with tracing on', () => {
    const props = json.Resources[idOf(stack.orchestration.stateMachine)].Properties;
    expect(props.LoggingConfiguration).toEqual(expect.objectContaining({ Level: 'ALL', IncludeExecutionData: false }));
    expect(props.TracingConfiguration).toEqual({ Enabled: true });
  });
});

describe('IAM scope', () => {
  it('lets the runner task role touch only job items, jobs/ artifacts, credential secrets and its own state machine', () => {
    const statements = statementsOf(idOf(stack.runner.taskRole));
    const dynamo = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')));
    expect(dynamo).toHaveLength(1);
    expect(actionsOf(dynamo[0]).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    expect(dynamo[0].Condition).toEqual({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['JOB#*'] } });
    // Approval task tokens live in their own items (keys.ts taskTokenKey): no leading key the runner may use reaches one.
    const leadingKeys = (dynamo[0].Condition!['ForAllValues:StringLike'] as Record<string, string[]>)['dynamodb:LeadingKeys'];
    const likes = leadingKeys.map(
      (k) =>
        new RegExp(
          `^${k
            .replace(/[.+^${}()|[\]\\]/g, '\\$&')
            .replace(/\*/g, '.*')
            .replace(/\?/g, '.')}$`,
        ),
    );
    const jobId = 'sj_01jsrnmwpnnc6n62h06xafcgxv';
    expect(likes.some((l) => l.test(`JOB#${jobId}`))).toBe(true);
    expect(likes.some((l) => l.test(taskTokenKey(jobId).pk))).toBe(false);

    const artifactWrites = statements.filter((s) => actionsOf(s).includes('s3:PutObject') && resourcesOf(s).some((r) => r.includes('ArtifactsBucket')));
    expect(artifactWrites.flatMap(resourcesOf)).toEqual([expect.stringMatching(/ArtifactsBucket.*\/jobs\/\*/)]);

    const secrets = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('secretsmanager:')));
    expect(secrets.flatMap(resourcesOf)).toEqual([expect.stringContaining(':secret:stackjobs/*')]);

    const sendTask = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('states:SendTask')));
    expect(sendTask.flatMap(resourcesOf)).toEqual([JSON.stringify({ Ref: idOf(stack.orchestration.stateMachine) })]);
    expect(statements.filter((s) => resourcesOf(s).includes('"*"'))).toEqual([]);
  });

  it('lets the pre-flight Lambdas read credential secrets (the API the Slack bot token too) but write only jobs (and, for the API, the catalog)', () => {
    const writes = [
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
      'dynamodb:BatchWriteItem',
      's3:PutObject',
      's3:DeleteObject',
      'secretsmanager:PutSecretValue',
    ];
    const jobs = JSON.stringify({ 'Fn::GetAtt': [idOf(stack.storage.jobsTable), 'Arn'] });
    const catalog = JSON.stringify({ 'Fn::GetAtt': [idOf(stack.storage.catalogTable), 'Arn'] });
    const credentials = expect.stringContaining(':secret:stackjobs/*') as unknown as string;
    const botToken = JSON.stringify({ Ref: idOf(stack.approvals.slackBotToken) });
    for (const [fn, writable, secrets] of [
      [stack.api.resourceChangedFunction, [jobs], [credentials]],
      // The API also replaces the Slack message of an approval decided or cancelled through it.
      [stack.api.apiFunction, [jobs, catalog], [credentials, botToken]],
    ] as const) {
      const statements = statementsOf(idOf(fn.executionRole));
      // An admin's force-unlock deletes Terraform's lock objects and items: scoped in "S3 backends without a secret".
      const lockRelease = ['StateLockObjectRelease', 'StateLockItemRelease'];
      const writeTargets = statements.filter((s) => !lockRelease.includes(s.Sid ?? '') && actionsOf(s).some((a) => writes.includes(a))).flatMap(resourcesOf);
      expect(new Set(writeTargets)).toEqual(new Set(writable));
      const secretReads = statements.filter((s) => actionsOf(s).includes('secretsmanager:GetSecretValue')).flatMap(resourcesOf);
      expect(secretReads).toEqual(secrets);
      const wildcard = statements
        .filter((s) => resourcesOf(s).includes('"*"'))
        .flatMap(actionsOf)
        .sort();
      expect(wildcard).toEqual(['sts:GetCallerIdentity', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    }
  });

  it('sets each environment variable together with its grant on the API Lambda', () => {
    const env = (json.Resources[idOf(stack.api.apiFunction)].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(Object.keys(env)).toEqual(
      expect.arrayContaining([
        'JOBS_TABLE',
        'CATALOG_TABLE',
        'ARTIFACTS_BUCKET',
        'STATE_MACHINE_ARN',
        'EVENT_BUS_NAME',
        'PRINCIPAL_ORGS_CLAIM',
        'PRINCIPAL_ROLES_CLAIM',
      ]),
    );
    const statements = statementsOf(idOf(stack.api.apiFunction.executionRole));
    expect(
      statements.some(
        (s) => actionsOf(s).includes('states:StartExecution') && resourcesOf(s).includes(JSON.stringify({ Ref: idOf(stack.orchestration.stateMachine) })),
      ),
    ).toBe(true);
    expect(
      statements.some(
        (s) => actionsOf(s).includes('events:PutEvents') && resourcesOf(s).includes(JSON.stringify({ 'Fn::GetAtt': [idOf(stack.events.bus), 'Arn'] })),
      ),
    ).toBe(true);
  });

  it("lets the API describe the executions of this state machine only (a cancel checks the job's execution still runs)", () => {
    const describes = statementsOf(idOf(stack.api.apiFunction.executionRole)).filter((st) => actionsOf(st).includes('states:DescribeExecution'));
    expect(describes).toHaveLength(1);
    // Executions live under arn:…:execution:<machine name>:*, not under the machine's own ARN.
    expect(JSON.stringify(describes[0].Resource)).toContain(':execution:');
    expect(JSON.stringify(describes[0].Resource)).toContain(idOf(stack.orchestration.stateMachine));
  });

  it('lets the approval Lambdas read only their own Slack secret (the API the bot token too), and resume only this state machine', () => {
    const secretReads = (fn: { executionRole: { node: { defaultChild?: unknown } } }) =>
      statementsOf(idOf(fn.executionRole))
        .filter((s) => actionsOf(s).includes('secretsmanager:GetSecretValue'))
        .flatMap(resourcesOf);
    expect(secretReads(stack.approvals.slackInteractionsFunction)).toEqual([JSON.stringify({ Ref: idOf(stack.approvals.slackSigningSecret) })]);
    expect(secretReads(stack.approvals.requestApprovalFunction)).toEqual([JSON.stringify({ Ref: idOf(stack.approvals.slackBotToken) })]);
    // The API replaces the message of an approval decided or cancelled through it: the bot token, never the signing secret.
    expect(secretReads(stack.api.apiFunction)).toContain(JSON.stringify({ Ref: idOf(stack.approvals.slackBotToken) }));
    expect(secretReads(stack.api.apiFunction)).not.toContain(JSON.stringify({ Ref: idOf(stack.approvals.slackSigningSecret) }));
    expect(
      (
        ofType('AWS::Lambda::Function').find(([id]) => id === idOf(stack.api.apiFunction))![1].Properties as {
          Environment: { Variables: Record<string, unknown> };
        }
      ).Environment.Variables.SLACK_BOT_TOKEN_SECRET_ARN,
    ).toEqual({ Ref: idOf(stack.approvals.slackBotToken) });
    const sendTask = statementsOf(idOf(stack.approvals.slackInteractionsFunction.executionRole)).filter((s) =>
      actionsOf(s).some((a) => a.startsWith('states:SendTask')),
    );
    expect(sendTask.flatMap(resourcesOf)).toEqual([JSON.stringify({ Ref: idOf(stack.orchestration.stateMachine) })]);
    const apiStop = statementsOf(idOf(stack.api.apiFunction.executionRole)).filter((s) => actionsOf(s).includes('ecs:StopTask'));
    expect(apiStop).toHaveLength(1);
    expect(apiStop[0].Condition).toEqual({ ArnEquals: { 'ecs:cluster': expect.anything() } });
  });

  it('lets every Lambda that wakes a parked job (step, cleanup, API) query the open-by-stack index it reads the queue from', () => {
    const index = JSON.stringify({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [idOf(stack.storage.jobsTable), 'Arn'] }, `/index/${JOBS_INDEX_OPEN_BY_STACK}`]] });
    for (const fn of [stack.orchestration.stepFunction, stack.orchestration.cleanupFunction, stack.api.apiFunction]) {
      const queries = statementsOf(idOf(fn.executionRole))
        .filter((s) => actionsOf(s).includes('dynamodb:Query'))
        .flatMap(resourcesOf);
      expect({ fn: fn.node.id, granted: queries.includes(index) }).toEqual({ fn: fn.node.id, granted: true });
    }
  });

  it('lets the runner-stopped Lambda only fail tasks of this state machine: no SendTaskSuccess or heartbeat, no table, bus or ECS', () => {
    const statements = statementsOf(idOf(stack.orchestration.runnerStoppedFunction.executionRole));
    // Beyond its own log group and X-Ray: SendTaskFailure on this machine, and its on-failure queue (Lambda's destination).
    const granted = statements
      .filter((s) => !actionsOf(s).every((a) => a.startsWith('logs:') || a.startsWith('xray:')))
      .map((s) => [[...actionsOf(s)].sort(), resourcesOf(s)]);
    expect(granted).toHaveLength(2);
    expect(granted).toEqual(
      expect.arrayContaining([
        [['states:SendTaskFailure'], [JSON.stringify({ Ref: idOf(stack.orchestration.stateMachine) })]],
        [
          ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
          [JSON.stringify({ 'Fn::GetAtt': [idOf(stack.events.handlerFailures.RunnerStopped), 'Arn'] })],
        ],
      ]),
    );
    const fn = json.Resources[idOf(stack.orchestration.runnerStoppedFunction)] as unknown as {
      Metadata: Record<string, string>;
      Properties: { Environment: { Variables: Record<string, string> } };
    };
    expect(fn.Metadata['stackjobs:entry']).toBe('lambdas/workflow/runner-stopped.handler.ts');
    expect(Object.keys(fn.Properties.Environment.Variables).sort()).toEqual([
      'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED',
      'NODE_OPTIONS',
      'POWERTOOLS_SERVICE_NAME',
    ]);
  });

  it('lets Finish Job (the step Lambda) and cleanup stop runner tasks of the runner cluster only', () => {
    // Finish Job stops a runner that timed out or was lost before the lock is released (retried until stopped: without
    // the grant every attempt is AccessDenied and the stack is released while the runner may still apply); cleanup
    // stops the runner of an aborted or timed-out execution.
    const cluster = { 'Fn::GetAtt': [idOf(stack.runner.cluster), 'Arn'] };
    for (const fn of [stack.orchestration.stepFunction, stack.orchestration.cleanupFunction]) {
      const stop = statementsOf(idOf(fn.executionRole)).filter((s) => actionsOf(s).some((a) => a.startsWith('ecs:')));
      expect(stop).toHaveLength(1);
      expect(actionsOf(stop[0])).toEqual(['ecs:StopTask']);
      expect(stop[0].Condition).toEqual({ ArnEquals: { 'ecs:cluster': cluster } });
      expect(resourcesOf(stop[0])).toEqual([expect.stringMatching(/:task\/".*\{"Ref":"[A-Za-z0-9]*Cluster[A-Za-z0-9]*"\}.*\/\*"/)]);
    }
  });
});

describe('org runners', () => {
  const TASK_DEFINITIONS = 'arn:aws:ecs:us-east-1:111122223333:task-definition/stackjobs-org-{org}:*';
  const ROLES = 'arn:aws:iam::111122223333:role/stackjobs-org-runner-*';
  const smStatements = (s: StackJobsStack, j: typeof json) => {
    const roleId = s.getLogicalId(s.orchestration.stateMachine.role.node.defaultChild as never);
    return Object.values(j.Resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles as Array<{ Ref: string }>).some((x) => x.Ref === roleId))
      .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
  };
  const preflightEnv = (s: StackJobsStack, j: typeof json) =>
    [s.api.apiFunction, s.api.resourceChangedFunction].map(
      (f) =>
        (j.Resources[s.getLogicalId(f.node.defaultChild as never)].Properties.Environment as { Variables: Record<string, unknown> }).Variables
          .ORG_RUNNER_TASK_DEFINITION_ARNS,
    );

  it('by default permits none: the state machine may start only the platform task definition, and pre-flight freezes no org placement', () => {
    const runTask = smStatements(stack, json).filter((st) => actionsOf(st).includes('ecs:RunTask'));
    expect(runTask).toHaveLength(1);
    expect(JSON.stringify(runTask[0].Resource)).toContain(idOf(stack.runner.taskDefinition).slice(0, 10));
    expect(smStatements(stack, json).filter((st) => st.Sid === 'OrgRunnerTasks' || st.Sid === 'OrgRunnerRoles')).toEqual([]);
    expect(preflightEnv(stack, json)).toEqual(['[]', '[]']);
  });

  it('with the context patterns, grants RunTask and PassRole on exactly those patterns (PassRole to ECS tasks only), cdk-nag clean', () => {
    const app = new App({
      context: { ...OFFLINE_CONTEXT, 'stackjobs:orgRunnerTaskDefinitionArns': [TASK_DEFINITIONS], 'stackjobs:orgRunnerRoleArns': [ROLES] },
    });
    const s = buildStackJobsApp(app, { nag: true });
    const assembly = app.synth(); // throws on an unacknowledged cdk-nag finding
    const report = path.join(assembly.directory, 'validation-report.json');
    const violations = fs.existsSync(report)
      ? (JSON.parse(fs.readFileSync(report, 'utf8')) as { pluginReports: Array<{ violations: unknown[] }> }).pluginReports.flatMap((p) => p.violations)
      : [];
    expect(violations).toEqual([]);
    const j = Template.fromStack(s).toJSON() as typeof json;
    const statements = smStatements(s, j);
    expect(statements.find((st) => st.Sid === 'OrgRunnerTasks')).toEqual({
      Sid: 'OrgRunnerTasks',
      Effect: 'Allow',
      Action: 'ecs:RunTask',
      // IAM cannot tell orgs apart: any org's family, and pre-flight keeps each job to its own.
      Resource: 'arn:aws:ecs:us-east-1:111122223333:task-definition/stackjobs-org-*:*',
    });
    expect(statements.find((st) => st.Sid === 'OrgRunnerRoles')).toEqual({
      Sid: 'OrgRunnerRoles',
      Effect: 'Allow',
      Action: 'iam:PassRole',
      Resource: ROLES,
      Condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    });
    // No other statement lets the state machine start or pass anything it names at run time.
    const broad = statements.filter(
      (st) => (actionsOf(st).includes('ecs:RunTask') || actionsOf(st).includes('iam:PassRole')) && resourcesOf(st).some((r) => r === '"*"'),
    );
    expect(broad).toEqual([]);
    expect(preflightEnv(s, j)).toEqual([JSON.stringify([TASK_DEFINITIONS]), JSON.stringify([TASK_DEFINITIONS])]);
    // The definition itself does not change with the context: the placement travels in the state.
    expect(extractStateMachine(j).definition).toEqual(extractStateMachine(json).definition);
  });

  it("gives pre-flight each org's runner networks from the context (none by default), and refuses a malformed one at synth", () => {
    const networksEnv = (st: StackJobsStack, j: typeof json) =>
      [st.api.apiFunction, st.api.resourceChangedFunction].map(
        (f) =>
          (j.Resources[st.getLogicalId(f.node.defaultChild as never)].Properties.Environment as { Variables: Record<string, unknown> }).Variables
            .ORG_RUNNER_NETWORKS,
      );
    expect(networksEnv(stack, json)).toEqual(['{}', '{}']);
    const networks = { acmecorp: { subnets: ['subnet-0a1'], securityGroups: ['sg-0c3'] } };
    const app = new App({ context: { ...OFFLINE_CONTEXT, 'stackjobs:orgRunnerNetworks': JSON.stringify(networks) } });
    const s = buildStackJobsApp(app);
    expect(networksEnv(s, Template.fromStack(s).toJSON() as typeof json)).toEqual([JSON.stringify(networks), JSON.stringify(networks)]);
    const bad = new App({ context: { ...OFFLINE_CONTEXT, 'stackjobs:orgRunnerNetworks': { acmecorp: { subnets: 'subnet-0a1' } } } });
    expect(() => buildStackJobsApp(bad)).toThrow(/stackjobs:orgRunnerNetworks must be \{"<org>": \{"clusters"/);
  });

  it("refuses at synth a function environment Lambda would refuse (over 4 KB), naming its largest variables, as so many orgs' networks make", () => {
    const org = (i: number) => [
      `org${i}`,
      { subnets: [`subnet-0${i}aaaaaaaaaaaaaaa`, `subnet-0${i}bbbbbbbbbbbbbbb`], securityGroups: [`sg-0${i}ccccccccccccccccc`] },
    ];
    const fits = new App({ context: { ...OFFLINE_CONTEXT, 'stackjobs:orgRunnerNetworks': Object.fromEntries(Array.from({ length: 10 }, (_, i) => org(i))) } });
    buildStackJobsApp(fits);
    expect(() => fits.synth()).not.toThrow();
    const many = new App({ context: { ...OFFLINE_CONTEXT, 'stackjobs:orgRunnerNetworks': Object.fromEntries(Array.from({ length: 40 }, (_, i) => org(i))) } });
    buildStackJobsApp(many);
    expect(() => many.synth()).toThrow(
      /lambdas\/handlers\/api\.handler\.ts is about \d+ bytes, more than the 4096 Lambda accepts; largest: ORG_RUNNER_NETWORKS/,
    );
  }, 120000);

  it("refuses at synth a pattern that would let one org start another org's task definitions (no {org} in the family)", () => {
    const app = new App({
      context: { ...OFFLINE_CONTEXT, 'stackjobs:orgRunnerTaskDefinitionArns': ['arn:aws:ecs:us-east-1:111122223333:task-definition/stackjobs-org-*:*'] },
    });
    expect(() => buildStackJobsApp(app)).toThrow(/stackjobs:orgRunnerTaskDefinitionArns: .* must end its family with \{org\}/);
  });
});

describe('runner', () => {
  it('runs the image built from runner-image/Dockerfile on the architecture its pinned tools are built for', () => {
    const props = json.Resources[idOf(stack.runner.taskDefinition)].Properties;
    expect(props.RuntimePlatform).toEqual({ CpuArchitecture: 'X86_64', OperatingSystemFamily: 'LINUX' });
    expect(props.RequiresCompatibilities).toEqual(['FARGATE']);
    const [container] = props.ContainerDefinitions as Array<{ Name: string; Image: unknown; Environment?: unknown }>;
    expect(container.Name).toBe('runner');
    expect(JSON.stringify(container.Image)).toContain('cdk-hnb659fds-container-assets');
    expect(container.Environment).toBeUndefined(); // the whole contract arrives as per-run overrides
  });

  it('keeps runner tasks off the public internet, in a cluster with Container Insights', () => {
    expect(states()[STATE.runPreview].Parameters).toEqual(
      expect.objectContaining({ NetworkConfiguration: { AwsvpcConfiguration: expect.not.objectContaining({ AssignPublicIp: 'ENABLED' }) } }),
    );
    template.hasResourceProperties('AWS::ECS::Cluster', { ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] });
  });
});

describe('functions', () => {
  it('all run Node 22+ on arm64 with tracing, source maps and a log group with retention', () => {
    const fns = ofType('AWS::Lambda::Function').filter(([, r]) => (r as unknown as { Metadata?: Record<string, unknown> }).Metadata?.['stackjobs:entry']);
    expect(fns.length).toBe(10);
    for (const [, r] of fns) {
      expect(r.Properties.Runtime).toMatch(/^nodejs(2[2-9]|[3-9]\d)\.x$/);
      expect(r.Properties.Architectures).toEqual(['arm64']);
      expect(r.Properties.TracingConfig).toEqual({ Mode: 'Active' });
      expect((r.Properties.Environment as { Variables: Record<string, string> }).Variables.NODE_OPTIONS).toBe('--enable-source-maps');
      const logGroup = (r.Properties.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
      expect(json.Resources[logGroup].Properties.RetentionInDays).toBe(90);
    }
  });
});

describe('events', () => {
  it("delivers inbound resource-change events (the intake's detail-type) with a DLQ, explicit retry attempts and a maximum event age", () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: idOf(stack.events.bus) },
      EventPattern: { 'detail-type': [RESOURCE_CHANGED], source: [{ 'anything-but': ['stackjobs'] }] },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [idOf(stack.api.resourceChangedFunction), 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [idOf(stack.events.inboundDlq), 'Arn'] } },
          RetryPolicy: { MaximumRetryAttempts: INBOUND_RETRY_ATTEMPTS, MaximumEventAgeInSeconds: INBOUND_MAX_EVENT_AGE.toSeconds() },
        }),
      ],
    });
  });

  it('sends failed, timed-out and aborted executions of this state machine to the cleanup Lambda', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [{ Ref: idOf(stack.orchestration.stateMachine) }], status: ['FAILED', 'TIMED_OUT', 'ABORTED'] },
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [idOf(stack.orchestration.cleanupFunction), 'Arn'] },
          DeadLetterConfig: Match.anyValue(),
          RetryPolicy: Match.anyValue(),
        }),
      ],
    });
  });

  it('sends stopped runner tasks of this deployment (any cluster, so org runners too) to the runner-stopped Lambda, with a DLQ, retry attempts and a maximum event age', () => {
    const rules = ofType('AWS::Events::Rule').filter(([, r]) => JSON.stringify(r.Properties.EventPattern).includes('aws.ecs'));
    expect(rules).toHaveLength(1);
    const [, rule] = rules[0];
    // The account's default bus, where ECS emits its events.
    expect(rule.Properties.EventBusName).toBeUndefined();
    expect(rule.Properties.EventPattern).toEqual({
      source: ['aws.ecs'],
      'detail-type': ['ECS Task State Change'],
      detail: {
        lastStatus: ['STOPPED'],
        overrides: {
          containerOverrides: {
            name: ['runner'],
            environment: {
              name: ['STACKJOBS_DEPLOYMENT_ID'],
              value: [{ 'Fn::Join': [':', [{ Ref: 'AWS::AccountId' }, { Ref: 'AWS::Region' }, stack.stackName]] }],
            },
          },
        },
      },
    });
    expect(rule.Properties.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [idOf(stack.orchestration.runnerStoppedFunction), 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [idOf(stack.events.runnerStoppedDlq), 'Arn'] } },
        RetryPolicy: { MaximumRetryAttempts: RUNNER_STOPPED_RETRY_ATTEMPTS, MaximumEventAgeInSeconds: RUNNER_STOPPED_MAX_EVENT_AGE.toSeconds() },
      }),
    ]);
    // The same deployment id the state machine gives every runner (the value the rule matches).
    const env = (
      states()[STATE.runPreview].Parameters as {
        Overrides: { ContainerOverrides: Array<{ Name: string; Environment: Array<{ Name: string; Value?: unknown }> }> };
      }
    ).Overrides.ContainerOverrides[0];
    expect(env.Name).toBe('runner');
    expect(env.Environment.find((e) => e.Name === 'STACKJOBS_DEPLOYMENT_ID')?.Value).toEqual(expect.stringContaining(stack.stackName));
  });

  it("sends the app's own status events of approvals that closed unattended (expired, or the job ended while waiting) to the Lambda that closes their Slack message, which reads job and approval items and the bot token only (no task token)", () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: idOf(stack.events.bus) },
      EventPattern: {
        source: ['stackjobs'],
        'detail-type': ['Stack Job Status Changed'],
        detail: {
          phase: ['completed'],
          reason: ['approval_expired', 'interrupted', 'execution_failed', 'execution_timed_out', 'execution_aborted', 'workflow_step_failed'],
          approvalId: [{ exists: true }],
        },
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [idOf(stack.approvals.approvalExpiredFunction), 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
        }),
      ],
    });
    const statements = statementsOf(idOf(stack.approvals.approvalExpiredFunction.executionRole));
    expect(statements.filter((s) => actionsOf(s).includes('secretsmanager:GetSecretValue')).flatMap(resourcesOf)).toEqual([
      JSON.stringify({ Ref: idOf(stack.approvals.slackBotToken) }),
    ]);
    expect(statements.filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')))).toEqual([
      {
        Sid: 'JobAndApprovalItemsOnly',
        Effect: 'Allow',
        Action: 'dynamodb:GetItem',
        Resource: { 'Fn::GetAtt': [idOf(stack.storage.jobsTable), 'Arn'] },
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['JOB#*', 'APR#*'] } },
      },
    ]);
  });
});

describe('api', () => {
  it('puts every /v1 route behind the JWT authorizer from context, except the OpenAPI document and Slack', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      JwtConfiguration: { Issuer: OFFLINE_CONTEXT['stackjobs:jwtIssuer'], Audience: OFFLINE_CONTEXT['stackjobs:jwtAudience'] },
    });
    const routes = Object.fromEntries(ofType('AWS::ApiGatewayV2::Route').map(([, r]) => [r.Properties.RouteKey as string, r.Properties.AuthorizationType]));
    expect(routes).toEqual({
      'GET /v1/{proxy+}': 'JWT',
      'POST /v1/{proxy+}': 'JWT',
      'PUT /v1/{proxy+}': 'JWT',
      'DELETE /v1/{proxy+}': 'JWT',
      'GET /v1/openapi.json': 'NONE',
      'POST /v1/slack/interactions': 'NONE',
    });
  });

  it('routes every method the API serves to the authorizer, and no OPTIONS, so API Gateway answers CORS preflights itself', () => {
    const served = [...new Set(routeDefinitions().map((r) => r.method))].sort();
    expect([...API_METHODS].sort()).toEqual(served);
    const methods = ofType('AWS::ApiGatewayV2::Route').map(([, r]) => (r.Properties.RouteKey as string).split(' ')[0]);
    expect(methods).not.toContain('ANY');
    expect(methods).not.toContain('OPTIONS');
  });

  it('logs access and throttles the stage', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AccessLogSettings: Match.objectLike({ DestinationArn: Match.anyValue() }),
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    });
  });
});

describe('observability', () => {
  it('alarms on failed jobs, expired approvals, failed executions, the five delivery dead-letter queues and the six handler-failure queues', () => {
    expect(ofType('AWS::CloudWatch::Alarm')).toHaveLength(14);
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });
});

describe('staged Docker image assets', () => {
  it('hold their Dockerfile and everything its COPY lines send from the context, as docker build needs', () => {
    const manifests = fs.readdirSync(assemblyDir).filter((f) => f.endsWith('.assets.json'));
    const images = manifests.flatMap((m) =>
      Object.values(
        (
          JSON.parse(fs.readFileSync(path.join(assemblyDir, m), 'utf8')) as {
            dockerImages?: Record<string, { source: { directory: string; dockerFile?: string } }>;
          }
        ).dockerImages ?? {},
      ),
    );
    expect(images.length).toBeGreaterThan(0);
    for (const { source } of images) {
      const dir = path.join(assemblyDir, source.directory);
      const dockerFile = path.join(dir, source.dockerFile ?? 'Dockerfile');
      expect({ dockerFile: source.dockerFile, staged: fs.existsSync(dockerFile) }).toEqual({ dockerFile: source.dockerFile, staged: true });
      const copies = fs
        .readFileSync(dockerFile, 'utf8')
        .split('\n')
        .filter((l) => /^COPY /.test(l) && !l.includes('--from='))
        .flatMap((l) =>
          l
            .replace(/^COPY\s+/, '')
            .split(/\s+/)
            .slice(0, -1),
        );
      expect(copies.length).toBeGreaterThan(3);
      for (const src of copies) expect({ src, staged: fs.existsSync(path.join(dir, src)) }).toEqual({ src, staged: true });
    }
  });
});

describe('timeouts and shutdown that hold on AWS', () => {
  const envOf = (state: string) =>
    Object.fromEntries(
      (
        states()[state] as unknown as { Parameters: { Overrides: { ContainerOverrides: Array<{ Environment: Array<{ Name: string; Value?: string }> }> } } }
      ).Parameters.Overrides.ContainerOverrides[0].Environment.map((e) => [e.Name, e.Value]),
    );

  it("gives the runner its phase's timeout, so the task timeout is the one that holds", () => {
    for (const state of [STATE.runPreview, STATE.runUpdate]) {
      const timeout = (states()[state] as unknown as { TimeoutSeconds: number }).TimeoutSeconds;
      expect({ state, commandTimeout: Number(envOf(state).STACKJOBS_OPERATION_TIMEOUT_SECONDS) }).toEqual({ state, commandTimeout: timeout });
    }
  });

  it("stops a runner container only after Terraform's grace period (stop timeout above the grace the runner is given)", () => {
    const [, def] = ofType('AWS::ECS::TaskDefinition')[0];
    const container = (def.Properties.ContainerDefinitions as Array<{ StopTimeout?: number }>)[0];
    const grace = Number(envOf(STATE.runUpdate).STACKJOBS_GRACE_SECONDS);
    expect(container.StopTimeout).toBe(120);
    expect(grace).toBeGreaterThanOrEqual(30);
    expect(grace).toBeLessThan(container.StopTimeout!);
  });

  it('logs the state machine under /aws/vendedlogs/states/ (no CloudWatch Logs resource policy needed)', () => {
    const machine = ofType('AWS::StepFunctions::StateMachine')[0][1];
    const dest = JSON.stringify(machine.Properties.LoggingConfiguration);
    const [groupId] = /"([A-Za-z0-9]+)","Arn"/.exec(dest)!.slice(1);
    expect(json.Resources[groupId].Properties.LogGroupName).toMatch(/^\/aws\/vendedlogs\/states\//);
  });
});

describe('failures that reach someone', () => {
  it('keeps every event a handler failed on: each asynchronously invoked Lambda has an on-failure queue, and each queue an alarm', () => {
    const configs = ofType('AWS::Lambda::EventInvokeConfig');
    const functionOf = (c: { Properties: Record<string, unknown> }) => JSON.stringify(c.Properties.FunctionName);
    for (const fn of [
      stack.api.resourceChangedFunction,
      stack.orchestration.cleanupFunction,
      stack.approvals.approvalExpiredFunction,
      stack.orchestration.runnerStoppedFunction,
      stack.drift.fanOutFunction,
      stack.drift.driftDetectedFunction,
    ]) {
      const id = idOf(fn);
      const config = configs.find(([, c]) => functionOf(c).includes(id));
      expect({ fn: id, hasConfig: Boolean(config) }).toEqual({ fn: id, hasConfig: true });
      const onFailure = JSON.stringify((config![1].Properties.DestinationConfig as { OnFailure: { Destination: unknown } }).OnFailure.Destination);
      const [queueId] = /"([A-Za-z0-9]+)","Arn"/.exec(onFailure)!.slice(1);
      expect(json.Resources[queueId].Type).toBe('AWS::SQS::Queue');
      const alarmed = ofType('AWS::CloudWatch::Alarm').some(([, a]) => JSON.stringify(a.Properties.Dimensions ?? []).includes(queueId));
      expect({ queueId, alarmed }).toEqual({ queueId, alarmed: true });
    }
  });

  it('encrypts the alarm topic with a customer-managed key that CloudWatch may use (not alias/aws/sns)', () => {
    const [, topic] = ofType('AWS::SNS::Topic')[0];
    expect(JSON.stringify(topic.Properties.KmsMasterKeyId)).not.toContain('alias/aws/sns');
    const keyId = (topic.Properties.KmsMasterKeyId as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];
    const policy = json.Resources[keyId].Properties.KeyPolicy as { Statement: Statement[] & Array<{ Principal?: { Service?: string } }> };
    const forCloudWatch = policy.Statement.find((st) => (st as { Principal?: { Service?: string } }).Principal?.Service === 'cloudwatch.amazonaws.com')!;
    expect(actionsOf(forCloudWatch)).toEqual(expect.arrayContaining(['kms:Decrypt', 'kms:GenerateDataKey*']));
  });
});

describe('S3 answers 404, not 403, for a missing artifact', () => {
  it('lets every role that reads artifacts list the bucket without a prefix condition (GetObject/HeadObject carry no s3:prefix)', () => {
    const bucketId = idOf(stack.storage.artifactsBucket);
    const readers = ofType('AWS::IAM::Role')
      .map(([id]) => id)
      .filter((id) => statementsOf(id).some((st) => actionsOf(st).includes('s3:GetObject') && resourcesOf(st).some((r) => r.includes(bucketId))));
    expect(readers.length).toBeGreaterThan(2);
    for (const role of readers.filter((r) => !r.startsWith('Runner'))) {
      const lists = statementsOf(role).filter((st) => actionsOf(st).includes('s3:ListBucket') && resourcesOf(st).some((r) => r.includes(bucketId)));
      expect({ role, unconditioned: lists.some((st) => !st.Condition) }).toEqual({ role, unconditioned: true });
    }
  });
});

describe('S3 backends without a secret', () => {
  it('reach state only through the state role: trusted by the runner task role alone, holding the state buckets and lock tables', () => {
    const taskRole = idOf(stack.runner.taskRole);
    const stateRole = idOf(stack.runner.stateRole);
    const trust = JSON.stringify(json.Resources[stateRole].Properties.AssumeRolePolicyDocument);
    expect(trust).toContain(taskRole);
    expect(trust).not.toContain('ecs-tasks.amazonaws.com');
    // The task role (whose credentials the tool never sees) has no state access of its own, only the right to assume.
    const taskStatements = statementsOf(taskRole);
    expect(taskStatements.filter((st) => actionsOf(st).some((a) => a.startsWith('s3:') && resourcesOf(st).some((r) => r.includes('terraform-state'))))).toEqual(
      [],
    );
    expect(taskStatements.find((st) => st.Sid === 'AssumeStateRole')).toBeDefined();
    const stateActions = statementsOf(stateRole).flatMap(actionsOf);
    expect(stateActions).toEqual(
      expect.arrayContaining([
        's3:ListBucket',
        's3:GetObject',
        's3:PutObject',
        's3:DeleteObject',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:DeleteItem',
      ]),
    );
  });

  it('lets pre-flight read lock items from the configured lock tables (else every submission of such an org was AccessDenied)', () => {
    const api = idOf(stack.api.apiFunction.executionRole as never);
    const lock = statementsOf(api).find((st) => st.Sid === 'StateLockItems');
    expect(lock && actionsOf(lock)).toEqual(['dynamodb:GetItem']);
    expect(resourcesOf(lock!).join()).toContain('terraform-locks');
  });

  it("lets the API (not the intake) delete only Terraform lock objects and lock items, for an admin's force-unlock", () => {
    const api = statementsOf(idOf(stack.api.apiFunction.executionRole as never));
    const object = api.find((st) => st.Sid === 'StateLockObjectRelease');
    expect(object && actionsOf(object)).toEqual(['s3:DeleteObject']);
    expect(resourcesOf(object!).every((r) => r.includes('/*.tflock'))).toBe(true);
    const item = api.find((st) => st.Sid === 'StateLockItemRelease');
    expect(item && actionsOf(item)).toEqual(['dynamodb:DeleteItem']);
    // The `<bucket>/<key>-md5` digest item beside each lock stays out of reach.
    expect(item!.Condition).toEqual({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['*.tfstate'] } });
    const intake = statementsOf(idOf(stack.api.resourceChangedFunction.executionRole as never));
    const onState = (st: Statement) => resourcesOf(st).some((r) => /terraform-(state|locks)|tfstate|tflock/.test(r));
    expect(
      intake
        .filter(onState)
        .flatMap(actionsOf)
        .filter((a) => a === 's3:DeleteObject' || a === 'dynamodb:DeleteItem'),
    ).toEqual([]);
  });
});
