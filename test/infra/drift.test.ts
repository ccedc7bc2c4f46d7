/**
 * The drift constructs in the synthesized template (cdk-nag on): the schedule group, the role Scheduler assumes and
 * its single permission, the fan-out and drift-detected functions with their grants, the API's permission to manage
 * schedules in that group only and to pass that role only, the drift rule, and the DriftDetected metric on the dashboard.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { OFFLINE_CONTEXT, type CfnTemplate } from '../../infra/asl';
import { buildStackJobsApp } from '../../infra/build';
import { SCHEDULE_ACTIONS } from '../../infra/constructs/drift';
import { ENTRY_METADATA } from '../../infra/constructs/stack-jobs-function';
import { RESOURCE_LIST_ATTRIBUTES } from '../../lambdas/adapters/dynamodb/resource-status-repository';
import { DRIFT_DETECTED } from '../../lambdas/domain/events';
import { METRIC_DRIFT_DETECTED } from '../../lambdas/events/drift-detected';
import type { StackJobsStack } from '../../infra/stack-jobs-stack';

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, unknown>;
}
type Resource = { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string; Metadata?: Record<string, unknown> };

let stack: StackJobsStack;
let json: CfnTemplate & { Resources: Record<string, Resource> };
let nagViolations: unknown[];

beforeAll(() => {
  const app = new App({ context: OFFLINE_CONTEXT });
  stack = buildStackJobsApp(app, { nag: true });
  const assembly = app.synth(); // throws on any unacknowledged cdk-nag finding
  const report = path.join(assembly.directory, 'validation-report.json');
  nagViolations = fs.existsSync(report)
    ? (JSON.parse(fs.readFileSync(report, 'utf8')) as { pluginReports: Array<{ violations: unknown[] }> }).pluginReports.flatMap((p) => p.violations)
    : [];
  json = assembly.getStackByName(stack.stackName).template as typeof json;
});

const idOf = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as never);
const ofType = (type: string) => Object.entries(json.Resources).filter(([, r]) => r.Type === type);
const statementsOf = (roleId: string): Statement[] =>
  ofType('AWS::IAM::Policy')
    .filter(([, r]) => (r.Properties.Roles as Array<{ Ref: string }>).some((x) => x.Ref === roleId))
    .flatMap(([, r]) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
const actionsOf = (s: Statement) => [s.Action].flat();
const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });

it('is cdk-nag clean with the drift constructs in it', () => {
  expect(nagViolations).toEqual([]);
});

it('has one schedule group for the deployment, deleted with the stack (and every schedule in it)', () => {
  const groups = ofType('AWS::Scheduler::ScheduleGroup');
  expect(groups).toHaveLength(1);
  expect(groups[0][0]).toBe(idOf(stack.drift.scheduleGroup));
  expect(groups[0][1].DeletionPolicy).toBe('Delete');
});

it('has a role only EventBridge Scheduler of this account assumes, whose one permission is invoking the fan-out', () => {
  const role = json.Resources[idOf(stack.drift.schedulerRole)];
  expect(role.Properties.AssumeRolePolicyDocument).toEqual({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: 'sts:AssumeRole',
        Principal: { Service: 'scheduler.amazonaws.com' },
        Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
      },
    ],
  });
  expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  expect(statementsOf(idOf(stack.drift.schedulerRole))).toEqual([
    { Sid: 'InvokeDriftFanOut', Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: arnOf(idOf(stack.drift.fanOutFunction)) },
  ]);
});

it('deploys the fan-out and drift-detected functions from their handlers, each keeping what it failed on', () => {
  const entry = (fn: { node: { defaultChild?: unknown } }) => json.Resources[idOf(fn)].Metadata?.[ENTRY_METADATA];
  expect(entry(stack.drift.fanOutFunction)).toBe('lambdas/handlers/drift-fan-out.handler.ts');
  expect(entry(stack.drift.driftDetectedFunction)).toBe('lambdas/handlers/drift-detected.handler.ts');
  for (const [fn, queue] of [
    [stack.drift.fanOutFunction, stack.events.handlerFailures.DriftFanOut],
    [stack.drift.driftDetectedFunction, stack.events.handlerFailures.DriftDetected],
  ] as const) {
    const config = ofType('AWS::Lambda::EventInvokeConfig').find(([, c]) => JSON.stringify(c.Properties.FunctionName).includes(idOf(fn)));
    expect(JSON.stringify(config?.[1].Properties.DestinationConfig)).toContain(idOf(queue));
  }
});

it('lets the fan-out scan the jobs table for the listing attributes only, read the catalog and submit; never write the catalog', () => {
  const statements = statementsOf(idOf(stack.drift.fanOutFunction.executionRole));
  const scans = statements.filter((s) => actionsOf(s).includes('dynamodb:Scan'));
  expect(scans).toEqual([
    {
      Sid: 'ListResourceItems',
      Effect: 'Allow',
      Action: 'dynamodb:Scan',
      Resource: arnOf(idOf(stack.storage.jobsTable)),
      Condition: {
        'ForAllValues:StringEquals': { 'dynamodb:Attributes': [...RESOURCE_LIST_ATTRIBUTES] },
        StringEqualsIfExists: { 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' },
      },
    },
  ]);
  const catalog = JSON.stringify(arnOf(idOf(stack.storage.catalogTable)));
  const writes = statements.filter((s) => actionsOf(s).some((a) => ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'].includes(a)));
  expect(writes.map((s) => JSON.stringify(s.Resource))).not.toContain(catalog);
  expect(statements.some((s) => actionsOf(s).includes('states:StartExecution'))).toBe(true);
  // The drift-detected function reads the bot token; the fan-out no Slack secret at all.
  const botToken = JSON.stringify({ Ref: idOf(stack.approvals.slackBotToken) });
  const secretReads = (role: string) =>
    statementsOf(role)
      .filter((s) => actionsOf(s).includes('secretsmanager:GetSecretValue'))
      .map((s) => JSON.stringify(s.Resource));
  expect(secretReads(idOf(stack.drift.fanOutFunction.executionRole))).not.toContain(botToken);
  expect(secretReads(idOf(stack.drift.driftDetectedFunction.executionRole))).toContain(botToken);
});

it("lets the API manage schedules in the deployment's group only, and pass the Scheduler role only, to Scheduler only", () => {
  const statements = statementsOf(idOf(stack.api.apiFunction.executionRole));
  const scheduling = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('scheduler:')));
  expect(scheduling).toHaveLength(1);
  expect(actionsOf(scheduling[0]).sort()).toEqual([...SCHEDULE_ACTIONS].sort());
  const resource = JSON.stringify(scheduling[0].Resource);
  expect(resource).toContain(':schedule/');
  const groupName = stack.resolve(stack.drift.scheduleGroup.scheduleGroupName) as unknown;
  expect(json.Resources[idOf(stack.drift.scheduleGroup)].Properties.Name).toEqual(groupName);
  expect(resource).toContain(`:schedule/${String(groupName)}/*`);
  expect(resource).toMatch(/\/\*"\]\]\}$/);
  const passes = statements.filter((s) => actionsOf(s).includes('iam:PassRole'));
  expect(passes).toEqual([
    {
      Sid: 'PassSchedulerRole',
      Effect: 'Allow',
      Action: 'iam:PassRole',
      Resource: arnOf(idOf(stack.drift.schedulerRole)),
      Condition: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
    },
  ]);
  const env = (json.Resources[idOf(stack.api.apiFunction)].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
  expect(env.DRIFT_SCHEDULE_GROUP).toEqual(groupName);
  expect(env.DRIFT_SCHEDULER_ROLE_ARN).toEqual(arnOf(idOf(stack.drift.schedulerRole)));
  expect(env.DRIFT_FAN_OUT_FUNCTION_ARN).toEqual(arnOf(idOf(stack.drift.fanOutFunction)));
});

it("routes the app's own Stack Drift Detected events to the drift-detected function, with a dead-letter queue, and graphs DriftDetected", () => {
  const rules = ofType('AWS::Events::Rule').filter(([, r]) => JSON.stringify(r.Properties.EventPattern).includes(DRIFT_DETECTED));
  expect(rules).toHaveLength(1);
  const rule = rules[0][1].Properties;
  expect(rule.EventBusName).toEqual({ Ref: idOf(stack.events.bus) });
  expect(rule.EventPattern).toEqual({ source: ['stackjobs'], 'detail-type': [DRIFT_DETECTED] });
  const [target] = rule.Targets as Array<{ Arn: unknown; DeadLetterConfig: { Arn: unknown }; RetryPolicy: unknown }>;
  expect(target.Arn).toEqual(arnOf(idOf(stack.drift.driftDetectedFunction)));
  expect(target.DeadLetterConfig.Arn).toEqual(arnOf(idOf(stack.events.driftDetectedDlq)));
  const dashboard = JSON.stringify(json.Resources[idOf(stack.observability.dashboard)].Properties.DashboardBody);
  expect(dashboard).toContain(METRIC_DRIFT_DETECTED);
});
