/**
 * The one Lambda construct: every function of the app gets its runtime, architecture, tracing, log group,
 * source maps and esbuild bundling here. Its bind helpers set an environment variable and grant the matching
 * permission in the same call, so configuration and permission can never drift apart.
 */
import * as path from 'node:path';
import { Arn, ArnFormat, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { awsSdkFromContext, type AwsSdkSource } from '../context';
import { LAYER_EXTERNAL_MODULES, RUNTIME_EXTERNAL_MODULES } from '../sdk-layer';
import { AwsSdkLayer } from './aws-sdk-layer';
import { acknowledgeWildcardResources } from './nag';

/** The repository root: entries are given relative to it, and bundling resolves from it. */
export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');

/**
 * The Lambda runtime for every function: Node.js 22, the runtime this project is built and bundled for (esbuild target
 * node22). cdk-nag's L1 asks for the newest runtime; each function acknowledges it (see the constructor).
 */
export const FUNCTION_RUNTIME = lambda.Runtime.NODEJS_22_X;
export const FUNCTION_ARCHITECTURE = lambda.Architecture.ARM_64;

/** CloudFormation metadata key naming a function's entry, so infra/asl.ts can tell which handler a Task invokes. */
export const ENTRY_METADATA = 'stackjobs:entry';

export interface StackJobsFunctionProps {
  /** Entry file relative to the repository root, e.g. `lambdas/workflow/step.handler.ts`. */
  readonly entry: string;
  /** One line for the console. */
  readonly description: string;
  /**
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;
  /**
   * @default 512
   */
  readonly memorySize?: number;
  /** Days to keep the function's logs. */
  readonly logRetention: logs.RetentionDays;
  /**
   * What happens to the log group when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * esbuild options of every function. With `stackjobs:awsSdk` `layer` (the default), `@aws-sdk/*`, `@smithy/*` and the
 * CEL evaluator's `@bufbuild/*` stay out of the bundle (the layer provides them); with `runtime`, the SDK does (the
 * runtime provides it); with `bundle`, everything is bundled.
 */
export function bundlingOptions(awsSdk: AwsSdkSource): BundlingOptions {
  return {
    format: OutputFormat.CJS,
    target: 'node22',
    sourceMap: true,
    sourcesContent: false,
    minify: true,
    externalModules: awsSdk === 'bundle' ? [] : awsSdk === 'runtime' ? [...RUNTIME_EXTERNAL_MODULES] : [...LAYER_EXTERNAL_MODULES],
  };
}

export type TableAccess = 'read' | 'readWrite';
export type BucketAccess = 'read' | 'readWrite';

/** What Lambda accepts for a function's environment variables, names and values together. */
export const LAMBDA_ENVIRONMENT_MAX_BYTES = 4096;
/**
 * A value known only at deploy time (a Ref or GetAtt: a generated name, at most 64 characters, or an ARN holding one),
 * counted generously: the estimate is an upper bound, so a deployment it passes fits.
 */
const UNRESOLVED_VALUE_BYTES = 160;

function resolvedBytes(v: unknown): number {
  if (typeof v === 'string') return Buffer.byteLength(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v).length;
  const join = (v as { 'Fn::Join'?: [string, unknown[]] } | null)?.['Fn::Join'];
  if (join) return join[1].reduce<number>((n, part) => n + resolvedBytes(part), join[0].length * Math.max(0, join[1].length - 1));
  return UNRESOLVED_VALUE_BYTES;
}

/** An upper estimate of a resolved environment's size, and its three largest variables. */
export function environmentBytes(variables: Record<string, unknown>): { total: number; largest: Array<[string, number]> } {
  const sizes = Object.entries(variables).map(([k, v]): [string, number] => [k, Buffer.byteLength(k) + resolvedBytes(v)]);
  return { total: sizes.reduce((n, [, b]) => n + b, 0), largest: sizes.sort((a, b) => b[1] - a[1]).slice(0, 3) };
}

export class StackJobsFunction extends NodejsFunction {
  /** The function's own role: only what the bind helpers and explicit grants add. */
  public readonly executionRole: iam.Role;
  public readonly functionLogGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: StackJobsFunctionProps) {
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, { retention: props.logRetention, removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN });
    // An explicit role instead of AWSLambdaBasicExecutionRole: that managed policy may write to any log group.
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${props.description} (Lambda role)`,
    });
    const awsSdk = awsSdkFromContext(scope.node);
    super(scope, id, {
      entry: path.join(PROJECT_ROOT, props.entry),
      handler: 'handler',
      description: props.description,
      runtime: FUNCTION_RUNTIME,
      architecture: FUNCTION_ARCHITECTURE,
      layers: awsSdk === 'layer' ? [AwsSdkLayer.of(scope, PROJECT_ROOT, FUNCTION_RUNTIME, FUNCTION_ARCHITECTURE)] : undefined,
      tracing: lambda.Tracing.ACTIVE,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(30),
      logGroup,
      role,
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: 'stack-jobs',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
      bundling: bundlingOptions(awsSdk),
    });
    this.executionRole = role;
    this.functionLogGroup = logGroup;
    logGroup.grantWrite(role);
    (this.node.defaultChild as lambda.CfnFunction).addMetadata(ENTRY_METADATA, props.entry);
    // Lambda refuses a function whose environment (names and values) passes 4 KB; the deploy would fail half-way.
    // Settings that grow with the deployment (stackjobs:orgRunnerNetworks, the org-runner patterns) are held to it here.
    this.node.addValidation({
      validate: () => {
        const cfn = this.node.defaultChild as lambda.CfnFunction;
        const env = Stack.of(this).resolve(cfn.environment) as { variables?: Record<string, unknown> } | undefined;
        const size = environmentBytes(env?.variables ?? {});
        return size.total <= LAMBDA_ENVIRONMENT_MAX_BYTES
          ? []
          : [
              `the environment of ${props.entry} is about ${size.total} bytes, more than the ${LAMBDA_ENVIRONMENT_MAX_BYTES} Lambda accepts; largest: ${size.largest
                .map(([k, n]) => `${k} ${n}`)
                .join(', ')} (shorten stackjobs:orgRunnerNetworks or stackjobs:orgRunnerTaskDefinitionArns)`,
            ];
      },
    });
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 on purpose: the runtime the code is bundled for (esbuild target node22) and supported by Lambda; moving to a newer one is a deliberate upgrade, not a synth-time default.',
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray PutTraceSegments/PutTelemetryRecords (active tracing) have no resource-level permissions.',
    });
  }

  /**
   * Sets `name` to the table's name and grants read or read-write on the table and the named indexes only
   * (no `index/*` wildcard: the index names come from table-definitions.ts).
   */
  bindTable(name: string, table: dynamodb.ITableV2, access: TableAccess, indexNames: readonly string[] = []): this {
    this.addEnvironment(name, table.tableName);
    const read = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem', 'dynamodb:DescribeTable'];
    this.addToRolePolicy(new iam.PolicyStatement({ actions: read, resources: [table.tableArn, ...indexNames.map((i) => `${table.tableArn}/index/${i}`)] }));
    // Writes go to the table only; indexes are never written directly.
    if (access === 'readWrite') {
      this.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
          resources: [table.tableArn],
        }),
      );
    }
    return this;
  }

  /**
   * Sets `name` to the bucket's name and grants GetObject (and PutObject for readWrite) under `prefix`, ListBucket on
   * the bucket, and the bucket key's use. ListBucket carries no `s3:prefix` condition: S3 answers a GetObject or
   * HeadObject of a missing key with 404 only to a caller allowed to list the bucket, and those requests carry no
   * prefix, so a conditioned grant turns every "not there yet" (a no-change job's plan, outputs) into a 403.
   */
  bindBucket(name: string, bucket: s3.IBucket, access: BucketAccess, prefix: string): this {
    this.addEnvironment(name, bucket.bucketName);
    this.addToRolePolicy(
      new iam.PolicyStatement({
        actions: access === 'read' ? ['s3:GetObject'] : ['s3:GetObject', 's3:PutObject'],
        resources: [bucket.arnForObjects(`${prefix}*`)],
      }),
    );
    this.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }));
    if (bucket.encryptionKey) {
      if (access === 'read') bucket.encryptionKey.grant(this, 'kms:Decrypt');
      else bucket.encryptionKey.grant(this, 'kms:Decrypt', 'kms:GenerateDataKey');
    }
    acknowledgeWildcardResources(this.executionRole, [
      [bucket.arnForObjects(`${prefix}*`), `Object keys under ${prefix} are per job and unknown at deploy time; the grant is limited to that prefix.`],
    ]);
    return this;
  }

  /** STATE_MACHINE_ARN beside the permission to start (and describe) its executions. */
  bindStateMachine(name: string, stateMachine: sfn.IStateMachine): this {
    this.addEnvironment(name, stateMachine.stateMachineArn);
    stateMachine.grantStartExecution(this);
    // A cancel asks whether the job's execution still runs: DescribeExecution acts on executions, not on the machine.
    const executions = Stack.of(this).formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${Arn.split(stateMachine.stateMachineArn, ArnFormat.COLON_RESOURCE_NAME).resourceName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.addToRolePolicy(new iam.PolicyStatement({ actions: ['states:DescribeExecution'], resources: [executions] }));
    acknowledgeWildcardResources(this.executionRole, [
      [executions, "Executions are named after job ids, unknown at deploy time; the grant covers this state machine's executions only."],
    ]);
    return this;
  }

  /** EVENT_BUS_NAME beside events:PutEvents on that bus only. */
  bindEventBus(name: string, bus: events.IEventBus): this {
    this.addEnvironment(name, bus.eventBusName);
    bus.grantPutEventsTo(this);
    return this;
  }

  /** A secret's ARN beside the permission to read that secret only. */
  bindSecret(name: string, secret: secretsmanager.ISecret): this {
    this.addEnvironment(name, secret.secretArn);
    secret.grantRead(this);
    return this;
  }

  /** Plain configuration that needs no permission. */
  setConfig(name: string, value: string): this {
    this.addEnvironment(name, value);
    return this;
  }
}
