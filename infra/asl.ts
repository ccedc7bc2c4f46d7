/**
 * The deployed state machine as plain ASL, for local mode and the tests: synthesize the stack offline (no bundling,
 * no credentials), take the state machine's DefinitionString (an Fn::Join of strings and references) and resolve
 * the references to stand-in ARNs. Nothing here is hand-written ASL, so what runs locally is what deploys.
 * Also returns which handler or runner phase each Task state stands for, so a local executor can bind them.
 */
import { App } from 'aws-cdk-lib';
import { STACK_NAME, buildStackJobsApp } from './build';
import { ENTRY_METADATA } from './constructs/stack-jobs-function';

export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT = '123456789012';

export type TaskBinding =
  /** A Lambda task: `entry` is the handler file (e.g. lambdas/workflow/step.handler.ts). */
  | { kind: 'lambda'; entry: string; waitForTaskToken: boolean }
  /** An ECS runner task for one phase (the container gets the runner's environment contract). */
  | { kind: 'runner'; phase: 'preview' | 'update' };

export interface AslState {
  Type: string;
  Resource?: string;
  Parameters?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface AslDefinition {
  StartAt: string;
  States: Record<string, AslState>;
  [key: string]: unknown;
}

export interface ExtractedStateMachine {
  definition: AslDefinition;
  /** Task state name -> what it runs. */
  tasks: Record<string, TaskBinding>;
}

interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
}
export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
}

/** Context for an offline synth without Lambda bundling (the runner image is only staged, never built; the web console is not built, a placeholder page stands in). */
export const OFFLINE_CONTEXT = {
  'aws:cdk:bundling-stacks': [],
  // A well-formed issuer nobody uses (example values are refused at synth).
  'stackjobs:jwtIssuer': 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_StackJobsOfflineSynth',
  'stackjobs:jwtAudience': ['stack-jobs-offline-synth'],
};

/** Synthesizes the stack without bundling (and, unless asked, without cdk-nag) and returns its template. */
export function synthesizeTemplate(options: { nag?: boolean; context?: Record<string, unknown> } = {}): CfnTemplate {
  const app = new App({ context: { ...OFFLINE_CONTEXT, ...options.context } });
  buildStackJobsApp(app, { nag: options.nag ?? false });
  return app.synth().getStackByName(STACK_NAME).template as CfnTemplate;
}

const lambdaArn = (logicalId: string) => `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${logicalId}`;

/** Resolves the CloudFormation intrinsics a DefinitionString can contain into stand-in values. */
export function resolver(template: CfnTemplate): (v: unknown) => string {
  const pseudo: Record<string, string> = {
    'AWS::Partition': 'aws',
    'AWS::Region': LOCAL_REGION,
    'AWS::AccountId': LOCAL_ACCOUNT,
    'AWS::URLSuffix': 'amazonaws.com',
  };
  const resolve = (v: unknown): string => {
    if (typeof v === 'string') return v;
    const o = (v ?? {}) as Record<string, unknown>;
    if (Array.isArray(o['Fn::Join'])) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map(resolve).join(sep);
    }
    if (typeof o.Ref === 'string') {
      if (pseudo[o.Ref]) return pseudo[o.Ref];
      const type = template.Resources[o.Ref]?.Type;
      if (type === 'AWS::ECS::TaskDefinition') return `arn:aws:ecs:${LOCAL_REGION}:${LOCAL_ACCOUNT}:task-definition/${o.Ref}:1`;
      return o.Ref; // table and bucket names, subnet and security group ids: the logical id stands in
    }
    if (Array.isArray(o['Fn::GetAtt'])) {
      const [id, attr] = o['Fn::GetAtt'] as [string, string];
      const type = template.Resources[id]?.Type;
      if (type === 'AWS::Lambda::Function' && attr === 'Arn') return lambdaArn(id);
      if (type === 'AWS::ECS::Cluster' && attr === 'Arn') return `arn:aws:ecs:${LOCAL_REGION}:${LOCAL_ACCOUNT}:cluster/${id}`;
      if (type === 'AWS::IAM::Role' && attr === 'Arn') return `arn:aws:iam::${LOCAL_ACCOUNT}:role/${id}`;
      return `${id}.${attr}`;
    }
    throw new Error(`unsupported intrinsic in the state machine definition: ${JSON.stringify(v)}`);
  };
  return resolve;
}

/** The one state machine of the template as plain ASL, and what each Task state runs. */
export function extractStateMachine(template: CfnTemplate = synthesizeTemplate()): ExtractedStateMachine {
  const machines = Object.values(template.Resources).filter((r) => r.Type === 'AWS::StepFunctions::StateMachine');
  if (machines.length !== 1) throw new Error(`expected one state machine in the template, found ${machines.length}`);
  const definition = JSON.parse(resolver(template)(machines[0].Properties?.DefinitionString)) as AslDefinition;

  const entryByArn = new Map<string, string>();
  for (const [id, r] of Object.entries(template.Resources)) {
    const entry = r.Metadata?.[ENTRY_METADATA];
    if (r.Type === 'AWS::Lambda::Function' && typeof entry === 'string') entryByArn.set(lambdaArn(id), entry);
  }
  const tasks: Record<string, TaskBinding> = {};
  for (const [name, state] of Object.entries(definition.States)) {
    if (state.Type !== 'Task' || !state.Resource) continue;
    if (state.Resource.includes(':states:::ecs:runTask')) {
      const overrides =
        (state.Parameters?.Overrides as { ContainerOverrides?: Array<{ Environment?: Array<{ Name: string; Value?: string }> }> })?.ContainerOverrides ?? [];
      const phase = overrides.flatMap((c) => c.Environment ?? []).find((e) => e.Name === 'STACKJOBS_PHASE')?.Value;
      if (phase !== 'preview' && phase !== 'update') throw new Error(`runner task ${name} has no STACKJOBS_PHASE`);
      tasks[name] = { kind: 'runner', phase };
      continue;
    }
    const waitForTaskToken = state.Resource.endsWith('.waitForTaskToken');
    const arn = state.Resource.includes(':states:::lambda:invoke') ? String(state.Parameters?.FunctionName) : state.Resource;
    const entry = entryByArn.get(arn);
    if (!entry) throw new Error(`task ${name} invokes ${arn}, which is not a function of this app`);
    tasks[name] = { kind: 'lambda', entry, waitForTaskToken };
  }
  return { definition, tasks };
}
