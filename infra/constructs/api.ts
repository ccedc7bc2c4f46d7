/**
 * The intake: everything that submits jobs, and therefore runs pre-flight. The HTTP API (every `/v1` route behind
 * a JWT authorizer, except the public OpenAPI document and the Slack interactions route, which Slack signs; CORS for
 * the web console's origin only) and the EventBridge "Resource Changed" Lambda.
 */
import { createHash } from 'node:crypto';
import { Duration, Lazy, RemovalPolicy, Stack, type CfnResource } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Validations } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { CONSOLE_CORS } from '../console-headers';
import { deploymentId } from './deployment';
import { acknowledgeCdkHandlerLogs, acknowledgeWildcardResources } from './nag';
import { wildcardPatternReasons } from './runner';
import { StackJobsFunction } from './stack-jobs-function';
import { JOBS_INDEX_NAMES } from './storage';
import type { OrgRunnerNetworks } from '../../lambdas/domain/preflight';

export interface JwtSettings {
  /** The token issuer (e.g. a Cognito user pool URL); from context `stackjobs:jwtIssuer`. */
  readonly issuer: string;
  /** Accepted audiences (client ids); from context `stackjobs:jwtAudience`. */
  readonly audience: string[];
  /** The claim holding the caller's organizations. */
  readonly orgsClaim: string;
  /** The claim holding the caller's roles. */
  readonly rolesClaim: string;
}

/**
 * The methods of the authorized `/v1/{proxy+}` routes: those the API's routes use (lambdas/api), named rather than
 * `ANY` so that a browser's CORS preflight (OPTIONS, sent without a token) matches no route behind the authorizer and
 * API Gateway answers it from the CORS configuration. Under `ANY` the authorizer refused every preflight with a 401.
 */
export const API_METHODS = CONSOLE_CORS.allowMethods.map((m) => apigw.HttpMethod[m]);

export interface ApiProps {
  readonly jobsTable: dynamodb.ITableV2;
  readonly catalogTable: dynamodb.ITableV2;
  readonly artifactsBucket: s3.IBucket;
  readonly bus: events.IEventBus;
  readonly stateMachine: sfn.IStateMachine;
  /** The runner cluster, whose tasks the API may stop (cancelling a running job). */
  readonly runnerCluster: ecs.ICluster;
  /** POST /v1/slack/interactions goes here. */
  readonly slackInteractionsFunction: lambda.IFunction;
  /** The Slack bot token: the API replaces an approval's message when it is decided or cancelled through the API. */
  readonly slackBotToken: secretsmanager.ISecret;
  readonly jwt: JwtSettings;
  /** Credential secrets pre-flight may read (ARN pattern). */
  readonly credentialSecretArnPattern: string;
  /** Roles pre-flight may assume to validate provider credentials. */
  readonly assumableRoleArnPatterns: string[];
  /** Terraform/OpenTofu state buckets pre-flight may probe (bucket ARN patterns). */
  readonly stateBucketArnPatterns: string[];
  /** Lock tables pre-flight may read a Terraform lock item from, for backends without a secret. */
  readonly stateLockTableArnPatterns: string[];
  /** Task-definition ARN patterns org runners may use: pre-flight freezes an org runner's placement only when it matches. */
  readonly orgRunnerTaskDefinitionArns: string[];
  /** stackjobs:orgRunnerNetworks: per org, the subnets and security groups its runners may name. */
  readonly orgRunnerNetworks: OrgRunnerNetworks;
  readonly logRetention: logs.RetentionDays;
  /**
   * Steady-state requests per second across the API.
   * @default 50
   */
  readonly throttleRateLimit?: number;
  /**
   * @default 100
   */
  readonly throttleBurstLimit?: number;
}

export class Api extends Construct {
  public readonly httpApi: apigw.HttpApi;
  public readonly apiFunction: StackJobsFunction;
  /** EventBridge "Resource Changed" -> submission (the events construct routes the rule here). */
  public readonly resourceChangedFunction: StackJobsFunction;
  public readonly url: string;
  /** `https://<api-id>.execute-api.<region>.amazonaws.com`: the API's origin, and its base URL without the trailing slash (the `$default` stage). */
  public readonly endpoint: string;
  private readonly props: ApiProps;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    this.props = props;
    const preflight = (fid: string, entry: string, description: string) =>
      this.submittingFunction(this, fid, entry, description)
        .setConfig('PRINCIPAL_ORGS_CLAIM', props.jwt.orgsClaim)
        .setConfig('PRINCIPAL_ROLES_CLAIM', props.jwt.rolesClaim);
    // The API also manages the catalog (admins register credentials, backends, modules), so it writes it;
    // the EventBridge intake only reads it.
    // Only the API serves artifacts (logs, plans, outputs); the intake never reads them.
    this.apiFunction = preflight('ApiFunction', 'lambdas/handlers/api.handler.ts', 'Stack Jobs HTTP API')
      .bindTable('CATALOG_TABLE', props.catalogTable, 'readWrite')
      .bindBucket('ARTIFACTS_BUCKET', props.artifactsBucket, 'read', 'jobs/')
      .bindSecret('SLACK_BOT_TOKEN_SECRET_ARN', props.slackBotToken);
    this.resourceChangedFunction = preflight(
      'ResourceChangedFunction',
      'lambdas/handlers/resource-changed.handler.ts',
      'Stack Jobs intake for Resource Changed events',
    ).bindTable('CATALOG_TABLE', props.catalogTable, 'read');
    this.grantStateLockRelease(this.apiFunction, props);
    // Approve/reject/cancel through the API resume or stop the execution, and stop a running preview.
    props.stateMachine.grantTaskResponse(this.apiFunction);
    const stopTaskResource = Stack.of(this).formatArn({ service: 'ecs', resource: 'task', resourceName: `${props.runnerCluster.clusterName}/*` });
    this.apiFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'StopRunnerTasks',
        actions: ['ecs:StopTask', 'ecs:DescribeTasks'],
        resources: [stopTaskResource],
        conditions: { ArnEquals: { 'ecs:cluster': props.runnerCluster.clusterArn } },
      }),
    );
    acknowledgeWildcardResources(this.apiFunction.executionRole, [
      [stopTaskResource, 'Runner task ids are minted per run; the grant is limited to tasks of the runner cluster (and conditioned on it).'],
    ]);

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: props.logRetention, removalPolicy: RemovalPolicy.RETAIN });
    this.httpApi = new apigw.HttpApi(this, 'HttpApi', { description: 'Stack Jobs API', createDefaultStage: false });
    const stage = new apigw.HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.throttleRateLimit ?? 50, burstLimit: props.throttleBurstLimit ?? 100 },
      accessLogSettings: { destination: new apigw.LogGroupLogDestination(accessLogs), format: AccessLogFormat.jsonWithStandardFields() },
    });
    this.url = stage.url;
    this.endpoint = this.httpApi.apiEndpoint;

    const authorizer = new HttpJwtAuthorizer('JwtAuthorizer', props.jwt.issuer, { jwtAudience: props.jwt.audience });
    const api = new HttpLambdaIntegration('Api', this.apiFunction);
    this.httpApi.addRoutes({ path: '/v1/{proxy+}', methods: [...API_METHODS], integration: api, authorizer });
    const openApi = this.httpApi.addRoutes({ path: '/v1/openapi.json', methods: [apigw.HttpMethod.GET], integration: api });
    const slack = this.httpApi.addRoutes({
      path: '/v1/slack/interactions',
      methods: [apigw.HttpMethod.POST],
      integration: new HttpLambdaIntegration('Slack', props.slackInteractionsFunction),
    });
    for (const route of openApi)
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason: 'The OpenAPI document is public by design; it describes the API and carries no data.',
      });
    for (const route of slack)
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason: 'Slack cannot present a JWT; the Lambda verifies the Slack signing-secret signature (v0 HMAC-SHA256, 5-minute window).',
      });
  }

  /**
   * Lets the browser app at `origin` (`https://host`) call the API: CORS for that origin alone, the API's methods, the
   * headers in CONSOLE_CORS (infra/console-headers.ts, which local mode applies too), `ETag` readable, preflights cached an hour, no credentials
   * (the token goes in `Authorization`, never a cookie).
   *
   * Set by a custom resource (`UpdateApi`) once both exist, not as the HttpApi's `corsPreflight`: the origin is the web
   * console's CloudFront distribution, whose Content-Security-Policy names this API's origin in `connect-src`, so with
   * CORS on the API resource the API would need the distribution and the distribution (through its response headers
   * policy) the API, a cycle CloudFormation refuses. The custom resource needs both and nothing needs it.
   */
  allowBrowserOrigin(origin: string, logRetention: logs.RetentionDays): cr.AwsCustomResource {
    const apiId = this.httpApi.apiId;
    const stack = Stack.of(this);
    const apiArn = `arn:${stack.partition}:apigateway:${stack.region}::/apis/${apiId}`;
    const update: cr.AwsSdkCall = {
      service: 'ApiGatewayV2',
      action: 'UpdateApi',
      parameters: {
        ApiId: apiId,
        CorsConfiguration: {
          AllowOrigins: [origin],
          AllowMethods: [...CONSOLE_CORS.allowMethods],
          AllowHeaders: [...CONSOLE_CORS.allowHeaders],
          ExposeHeaders: [...CONSOLE_CORS.exposeHeaders],
          MaxAge: CONSOLE_CORS.maxAgeSeconds,
          AllowCredentials: false,
        },
      },
      physicalResourceId: cr.PhysicalResourceId.of(`${apiId}-cors`),
    };
    const cors = new cr.AwsCustomResource(this, 'BrowserCors', {
      onCreate: update,
      onUpdate: update,
      onDelete: {
        service: 'ApiGatewayV2',
        action: 'DeleteCorsConfiguration',
        parameters: { ApiId: apiId },
        // An API replaced by another (a new id) is deleted with its CORS; by then this policy names only the new API, so
        // removing the old one's configuration is refused. Nothing is left to remove either way.
        ignoreErrorCodesMatching: 'NotFoundException|AccessDeniedException',
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        // API Gateway authorizes its own API by HTTP verb on the resource path: UpdateApi is a PATCH of the API.
        new iam.PolicyStatement({ actions: ['apigateway:PATCH'], resources: [apiArn] }),
        new iam.PolicyStatement({ actions: ['apigateway:DELETE'], resources: [`${apiArn}/cors`] }),
      ]),
      installLatestAwsSdk: false,
      logGroup: new logs.LogGroup(this, 'BrowserCorsLogs', { retention: logRetention, removalPolicy: RemovalPolicy.DESTROY }),
    });
    // A property the handler ignores: any change CloudFormation makes to the API resource changes it, so the CORS
    // configuration is written again after that update, whatever the update does to a configuration it never set.
    (cors.node.findChild('Resource').node.defaultChild as CfnResource).addPropertyOverride(
      'ApiFingerprint',
      Lazy.string({ produce: () => fingerprint(this.httpApi.node.defaultChild as CfnResource) }),
    );
    acknowledgeCdkHandlerLogs((cors.grantPrincipal as iam.IRole).node.scope!);
    return cors;
  }

  /**
   * A function that submits jobs, and so runs pre-flight (the API, the intake, the drift Lambdas): the submission's
   * configuration (app/submission-context.ts) with its grants, pre-flight's included. Bind the catalog as it needs it.
   */
  submittingFunction(scope: Construct, id: string, entry: string, description: string, timeout = Duration.seconds(29)): StackJobsFunction {
    const props = this.props;
    return this.grantPreflight(
      new StackJobsFunction(scope, id, { entry, description, logRetention: props.logRetention, timeout, memorySize: 1024 })
        .bindTable('JOBS_TABLE', props.jobsTable, 'readWrite', JOBS_INDEX_NAMES)
        .bindStateMachine('STATE_MACHINE_ARN', props.stateMachine)
        .bindEventBus('EVENT_BUS_NAME', props.bus)
        .setConfig('ORG_RUNNER_TASK_DEFINITION_ARNS', Stack.of(scope).toJsonString(props.orgRunnerTaskDefinitionArns))
        .setConfig('ORG_RUNNER_NETWORKS', JSON.stringify(props.orgRunnerNetworks))
        .setConfig('DEPLOYMENT_ID', deploymentId(scope)),
      props,
    );
  }

  /**
   * Pre-flight reads credential material and probes providers and state backends; it writes nothing but jobs
   * (and the catalog, for the API's admin routes).
   */
  private grantPreflight(fn: StackJobsFunction, props: ApiProps): StackJobsFunction {
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'CredentialSecrets',
        actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        resources: [props.credentialSecretArnPattern],
      }),
    );
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'CallerIdentity', actions: ['sts:GetCallerIdentity'], resources: ['*'] }));
    if (props.assumableRoleArnPatterns.length > 0)
      fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'ProviderRoles', actions: ['sts:AssumeRole'], resources: props.assumableRoleArnPatterns }));
    if (props.stateBucketArnPatterns.length > 0) {
      // HeadBucket is authorized by s3:ListBucket.
      fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'StateBuckets', actions: ['s3:ListBucket'], resources: props.stateBucketArnPatterns }));
      fn.addToRolePolicy(
        new iam.PolicyStatement({ sid: 'StateObjects', actions: ['s3:GetObject'], resources: props.stateBucketArnPatterns.map((b) => `${b}/*`) }),
      );
    }
    if (props.stateLockTableArnPatterns.length > 0) {
      fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'StateLockItems', actions: ['dynamodb:GetItem'], resources: props.stateLockTableArnPatterns }));
    }
    acknowledgeWildcardResources(fn.executionRole, [
      [
        props.credentialSecretArnPattern,
        'Credential secrets are registered after deploy; only names under the credentials prefix are readable (docs/architecture.md).',
      ],
      ...wildcardPatternReasons(props.assumableRoleArnPatterns, props.stateBucketArnPatterns),
      ...props.stateLockTableArnPatterns.map((t): [string, string] => [
        t,
        'Lock tables are named by the deployer (stackjobs:stateLockTableNames); pre-flight only reads lock items.',
      ]),
    ]);
    return fn;
  }

  /**
   * An org admin releases the Terraform lock a killed tool left (POST …/state-lock/force-unlock), for backends without a
   * secret: the `<key>.tflock` object and the lock table's `<bucket>/<key>` lock item only, never state or its
   * `-md5` digest item.
   */
  private grantStateLockRelease(fn: StackJobsFunction, props: ApiProps): void {
    if (props.stateBucketArnPatterns.length > 0) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'StateLockObjectRelease',
          actions: ['s3:DeleteObject'],
          resources: props.stateBucketArnPatterns.map((b) => `${b}/*.tflock`),
        }),
      );
    }
    if (props.stateLockTableArnPatterns.length > 0) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'StateLockItemRelease',
          actions: ['dynamodb:DeleteItem'],
          resources: props.stateLockTableArnPatterns,
          conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['*.tfstate'] } },
        }),
      );
    }
    // The lock tables' patterns are acknowledged with pre-flight's read grant (grantPreflight).
    acknowledgeWildcardResources(
      fn.executionRole,
      props.stateBucketArnPatterns.map((b): [string, string] => [
        `${b}/*.tflock`,
        'Terraform lock objects of any stack an org admin force-unlocks; never state objects.',
      ]),
    );
  }
}

/** A short hash of a resource's CloudFormation definition (type, properties, dependencies), as deployed. */
function fingerprint(resource: CfnResource): string {
  return createHash('sha256')
    .update(JSON.stringify(Stack.of(resource).resolve(resource._toCloudFormation())))
    .digest('hex')
    .slice(0, 16);
}
