/**
 * Reads the app's settings from CDK context (`cdk.json`, or `-c key=value` on the command line) into typed stack
 * props, failing with the key's name when a value is malformed. Every key is documented in docs/architecture.md.
 */
import { Duration } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';
import type { StackJobsStackProps } from './stack-jobs-stack';
import type { ConsoleSignIn } from './constructs/console';
import { RUNNER_DEFAULT_SIZE, runnerImageAsset, type RunnerImageBuild } from './constructs/runner';
import { orgRunnerNetworksSchema, orgRunnerPatternProblem, type OrgRunnerNetworks } from '../lambdas/domain/preflight';

const PREFIX = 'stackjobs:';

class ContextError extends Error {
  override readonly name = 'ContextError';
}

/** Context values given with `-c` arrive as strings; JSON-looking ones are parsed. */
function read(node: Node, key: string): unknown {
  const v: unknown = node.tryGetContext(`${PREFIX}${key}`);
  if (typeof v === 'string' && /^[[{]|^(true|false|\d+)$/.test(v.trim())) {
    try {
      return JSON.parse(v);
    } catch {
      throw new ContextError(`context ${PREFIX}${key} is not valid JSON`);
    }
  }
  return v;
}

function str(node: Node, key: string, fallback?: string): string | undefined {
  const v = read(node, key);
  if (v === undefined || v === null || v === '') return fallback;
  if (typeof v !== 'string') throw new ContextError(`context ${PREFIX}${key} must be a string`);
  return v;
}

/** stackjobs:orgRunnerTaskDefinitionArns, each pattern able to keep an org to its own task definitions (refused otherwise). */
function orgRunnerPatterns(patterns: string[] | undefined): string[] | undefined {
  for (const p of patterns ?? []) {
    const problem = orgRunnerPatternProblem(p);
    if (problem) throw new ContextError(`context ${PREFIX}orgRunnerTaskDefinitionArns: ${problem}`);
  }
  return patterns;
}

/** stackjobs:orgRunnerNetworks: {org: {clusters, subnets, securityGroups}}, JSON text or an object (cdk.json). */
function orgRunnerNetworks(node: Node): OrgRunnerNetworks | undefined {
  const raw = read(node, 'orgRunnerNetworks');
  if (raw === undefined) return undefined;
  let value: unknown = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw) as unknown;
    } catch {
      value = undefined;
    }
  }
  const parsed = orgRunnerNetworksSchema.safeParse(value);
  if (!parsed.success)
    throw new ContextError(
      `context ${PREFIX}orgRunnerNetworks must be {"<org>": {"clusters": ["<cluster name or ARN>"], "subnets": ["subnet-…"], "securityGroups": ["sg-…"]}, …}`,
    );
  return parsed.data;
}

function list(node: Node, key: string): string[] | undefined {
  const v = read(node, key);
  if (v === undefined) return undefined;
  const arr =
    typeof v === 'string'
      ? v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : v;
  if (!Array.isArray(arr) || !arr.every((s) => typeof s === 'string')) throw new ContextError(`context ${PREFIX}${key} must be a list of strings`);
  return arr;
}

function num(node: Node, key: string): number | undefined {
  const v = read(node, key);
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ContextError(`context ${PREFIX}${key} must be a positive number`);
  return v;
}

function bool(node: Node, key: string): boolean | undefined {
  const v = read(node, key);
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new ContextError(`context ${PREFIX}${key} must be true or false`);
  return v;
}

/** Where the functions get the AWS SDK from; see awsSdkFromContext. */
export type AwsSdkSource = 'layer' | 'bundle' | 'runtime';
const AWS_SDK_SOURCES: readonly AwsSdkSource[] = ['layer', 'bundle', 'runtime'];

/**
 * `stackjobs:awsSdk` (default `layer`): `layer` puts the lockfile's AWS SDK in one Lambda layer shared by every
 * function (infra/sdk-layer.ts), so Lambda runs the version the tests ran and each bundle holds only its own code;
 * `bundle` bundles that SDK into every function instead (0.9-1.4 MB each, no layer); `runtime` leaves `@aws-sdk/*` and
 * `@smithy/*` to the SDK the Lambda runtime ships (CDK NodejsFunction's own default), a version nobody here tested.
 * Read by every StackJobsFunction.
 */
export function awsSdkFromContext(node: Node): AwsSdkSource {
  if (read(node, 'bundleAwsSdk') !== undefined)
    throw new ContextError(`context ${PREFIX}bundleAwsSdk is gone: use ${PREFIX}awsSdk=bundle (or runtime; the default is layer)`);
  const v = str(node, 'awsSdk', 'layer')!;
  if (!AWS_SDK_SOURCES.includes(v as AwsSdkSource)) throw new ContextError(`context ${PREFIX}awsSdk must be one of ${AWS_SDK_SOURCES.join(', ')}`);
  return v as AwsSdkSource;
}

/** Values copied from an example: `_EXAMPLE` pool ids, the reserved example.com/org/net domains, `<placeholders>`. */
export function isPlaceholder(value: string): boolean {
  return /_EXAMPLE\b|example-client|[<>]/i.test(value) || /^https?:\/\/([^/]+\.)?example\.(com|org|net)(\/|$)/i.test(value);
}

const RUNNER_TOOLS = ['terraform', 'tofu', 'pulumi'];

/**
 * Fargate's task sizes: the memory (MiB) each CPU value (units, 1024 = 1 vCPU) may have
 * (https://docs.aws.amazon.com/AmazonECS/latest/userguide/task-cpu-memory-error.html). A size outside them fails at
 * deploy (RegisterTaskDefinition: "No Fargate configuration exists for given values"); here it fails at synth.
 */
const FARGATE_SIZES: Record<number, { from: number; to: number; step: number } | number[]> = {
  256: [512, 1024, 2048],
  512: [1024, 2048, 3072, 4096],
  1024: { from: 2048, to: 8192, step: 1024 },
  2048: { from: 4096, to: 16384, step: 1024 },
  4096: { from: 8192, to: 30720, step: 1024 },
  8192: { from: 16384, to: 61440, step: 4096 },
  16384: { from: 32768, to: 122880, step: 8192 },
};

/** The runner task's size from stackjobs:runnerCpu and stackjobs:runnerMemoryMiB (each defaulting as runner.ts does). */
export function runnerSizeFromContext(node: Node): { cpu: number; memoryLimitMiB: number } {
  const cpu = num(node, 'runnerCpu') ?? RUNNER_DEFAULT_SIZE.cpu;
  const memoryLimitMiB = num(node, 'runnerMemoryMiB') ?? RUNNER_DEFAULT_SIZE.memoryLimitMiB;
  const sizes = FARGATE_SIZES[cpu];
  if (!sizes) throw new ContextError(`context ${PREFIX}runnerCpu must be one of Fargate's CPU values: ${Object.keys(FARGATE_SIZES).join(', ')}`);
  const ok = Array.isArray(sizes)
    ? sizes.includes(memoryLimitMiB)
    : memoryLimitMiB >= sizes.from && memoryLimitMiB <= sizes.to && (memoryLimitMiB - sizes.from) % sizes.step === 0;
  if (!ok) {
    const allowed = Array.isArray(sizes) ? sizes.join(', ') : `${sizes.from} to ${sizes.to} in steps of ${sizes.step}`;
    throw new ContextError(`context ${PREFIX}runnerMemoryMiB ${memoryLimitMiB} does not go with ${cpu} CPU units on Fargate: ${allowed}`);
  }
  return { cpu, memoryLimitMiB };
}

/** The runner image's build arguments from stackjobs:runnerTools and stackjobs:terraformProviderMirror, when either is set. */
function runnerBuildFromContext(node: Node): RunnerImageBuild | undefined {
  const tools = list(node, 'runnerTools');
  const providerMirror = list(node, 'terraformProviderMirror');
  if (tools !== undefined) {
    const unknown = tools.filter((t) => !RUNNER_TOOLS.includes(t));
    if (tools.length === 0 || unknown.length > 0)
      throw new ContextError(
        `context ${PREFIX}runnerTools must list some of ${RUNNER_TOOLS.join(', ')}${unknown.length ? `; unknown: ${unknown.join(', ')}` : ''}`,
      );
  }
  const bad = (providerMirror ?? []).filter((p) => !/^[a-z0-9-]+\/[a-z0-9-]+=\d+\.\d+\.\d+$/.test(p));
  if (bad.length > 0) throw new ContextError(`context ${PREFIX}terraformProviderMirror entries must be <namespace>/<type>=<version>: ${bad.join(', ')}`);
  if (tools === undefined && providerMirror === undefined) return undefined;
  return { ...(tools ? { tools } : {}), ...(providerMirror ? { providerMirror } : {}) };
}

/**
 * The web console's sign-in: `stackjobs:consoleClientId` (default: the first `stackjobs:jwtAudience` entry), which must
 * be one of the audiences, since the console sends its ID token, whose `aud` is that client id; and
 * `stackjobs:consoleAuthOrigins`, the origins its OIDC client fetches from besides the issuer's (the CSP's connect-src).
 */
function consoleFromContext(node: Node, audience: string[]): ConsoleSignIn {
  const clientId = str(node, 'consoleClientId', audience[0])!;
  if (isPlaceholder(clientId))
    throw new ContextError(`context ${PREFIX}consoleClientId holds an example value (${clientId}): pass the console's app client id`);
  if (!audience.includes(clientId))
    throw new ContextError(
      `context ${PREFIX}consoleClientId (${clientId}) must also be in ${PREFIX}jwtAudience: the console sends its ID token, whose aud is that client id, and the API's authorizer accepts only those audiences`,
    );
  const authOrigins = (list(node, 'consoleAuthOrigins') ?? []).map((o) => o.replace(/\/$/, ''));
  const bad = authOrigins.filter((o) => !/^https:\/\/[a-z0-9.-]+(:\d+)?$/i.test(o) || isPlaceholder(o));
  if (bad.length > 0)
    throw new ContextError(`context ${PREFIX}consoleAuthOrigins must list https origins (https://host, no path), not examples: ${bad.join(', ')}`);
  return { clientId, authOrigins };
}

export function stackPropsFromContext(node: Node): StackJobsStackProps {
  const issuer = str(node, 'jwtIssuer');
  const audience = list(node, 'jwtAudience');
  const howTo = `pass -c ${PREFIX}jwtIssuer=https://cognito-idp.<region>.amazonaws.com/<user pool id> -c ${PREFIX}jwtAudience=<app client id> (any OIDC issuer works; README, Deploy)`;
  if (!issuer || !audience?.length)
    throw new ContextError(`context ${PREFIX}jwtIssuer and ${PREFIX}jwtAudience are required (the API's JWT authorizer): ${howTo}`);
  if (isPlaceholder(issuer) || audience.some(isPlaceholder)) {
    throw new ContextError(
      `context ${PREFIX}jwtIssuer/${PREFIX}jwtAudience hold an example value (${issuer}): the API's authorizer would accept no real token; ${howTo}`,
    );
  }
  if (!/^https:\/\/[^/]+/.test(issuer)) throw new ContextError(`context ${PREFIX}jwtIssuer must be an https:// issuer URL: ${howTo}`);
  const consoleSignIn = consoleFromContext(node, audience);
  const vpc = read(node, 'vpc') as { vpcId?: unknown; availabilityZones?: unknown; privateSubnetIds?: unknown } | undefined;
  if (vpc !== undefined && (typeof vpc.vpcId !== 'string' || !Array.isArray(vpc.availabilityZones) || !Array.isArray(vpc.privateSubnetIds))) {
    throw new ContextError(`context ${PREFIX}vpc must be {"vpcId", "availabilityZones": [...], "privateSubnetIds": [...]}`);
  }
  const runnerImage = str(node, 'runnerImage');
  const runnerBuild = runnerBuildFromContext(node);
  if (runnerImage && runnerBuild)
    throw new ContextError(
      `context ${PREFIX}runnerImage is a prebuilt image: ${PREFIX}runnerTools and ${PREFIX}terraformProviderMirror shape the image built from runner-image/`,
    );
  const previewMinutes = num(node, 'previewTimeoutMinutes');
  const updateMinutes = num(node, 'updateTimeoutMinutes');
  return {
    jwt: {
      issuer,
      audience,
      orgsClaim: str(node, 'principalOrgsClaim', 'custom:orgs')!,
      rolesClaim: str(node, 'principalRolesClaim', 'custom:roles')!,
    },
    console: consoleSignIn,
    retainData: bool(node, 'retainData'),
    jobsIndexUpgradeStep: num(node, 'jobsIndexUpgradeStep'),
    logRetention: num(node, 'logRetentionDays') as logs.RetentionDays | undefined,
    existingVpc: vpc as StackJobsStackProps['existingVpc'],
    interfaceEndpoints: bool(node, 'interfaceEndpoints'),
    runnerSize: runnerSizeFromContext(node),
    runnerImage: runnerImage ? ecs.ContainerImage.fromRegistry(runnerImage) : runnerBuild ? runnerImageAsset(runnerBuild) : undefined,
    assumableRoleArnPatterns: list(node, 'assumableRoleArns'),
    stateBucketNames: list(node, 'stateBucketNames'),
    stateLockTableNames: list(node, 'stateLockTableNames'),
    slackTeamId: str(node, 'slackTeamId'),
    orgRunnerTaskDefinitionArns: orgRunnerPatterns(list(node, 'orgRunnerTaskDefinitionArns')),
    orgRunnerNetworks: orgRunnerNetworks(node),
    orgRunnerRoleArns: list(node, 'orgRunnerRoleArns'),
    lockWaitSeconds: num(node, 'lockWaitSeconds'),
    lockWaitMaxAttempts: num(node, 'lockWaitMaxAttempts'),
    previewTimeout: previewMinutes ? Duration.minutes(previewMinutes) : undefined,
    updateTimeout: updateMinutes ? Duration.minutes(updateMinutes) : undefined,
    alarmEmail: str(node, 'alarmEmail'),
    description: 'Stack Jobs: pre-flight checked, approved, auditable Terraform/OpenTofu/Pulumi stack jobs',
  };
}
