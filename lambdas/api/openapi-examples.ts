/** The OpenAPI document's examples: the README's StackJob and what surrounds it. test/openapi validates each against its component. */
import type { CheckResult, ResourceChange, StackJob } from '../domain/schemas';

export const STACK_JOB_ID = 'sj_01jsrnmwpnnc6n62h06xafcgxv';
const STATE_KEY = 'stack-jobs/acmecorp/production/eks_01jq5xe4z7farkgenqsh47c1h0/terraform.tfstate';

const resourceChangeExample: ResourceChange = {
  resource: {
    id: 'eks_01jq5xe4z7farkgenqsh47c1h0',
    name: 'prod-api-cluster',
    org: 'acmecorp',
    env: 'production',
    version: { id: 'ver-01jsrnmrwjn57drj0ekht8hb93', message: 'Scale EKS node group from 3 to 5 nodes' },
  },
  kind: 'aws_eks_cluster',
  spec: { nodeGroup: { desiredSize: 5 } },
  triggerEvent: 'updated',
  createdBy: 'user@company.com',
};

const passedChecksExample: CheckResult[] = [
  {
    check: 'credential',
    passed: true,
    messages: [
      'using aws_credential awscred_prod_account',
      'STS GetCallerIdentity accepted: arn:aws:iam::123456789012:role/stackjobs-deployer (account 123456789012)',
    ],
  },
  {
    check: 'module',
    passed: true,
    messages: ['iacmod_platform_eks_terraform (terraform) by rule platform-default'],
    resolved: { id: 'iacmod_platform_eks_terraform', rule: 'platform-default' },
  },
  {
    check: 'backend',
    passed: true,
    messages: ['backend tfcred_s3_backend_prod (s3): bucket acmecorp-terraform-state reachable', `state exists at ${STATE_KEY}`],
    resolved: { id: 'tfcred_s3_backend_prod', stateKey: STATE_KEY, stateExists: true },
  },
  {
    check: 'flowControl',
    passed: true,
    messages: ['policy platform-default from the platform level'],
    resolved: { id: 'platform-default', level: 'platform' },
  },
];

/** The design's StackJob, as the API returns it right after submission. */
export const stackJobExample: StackJob = {
  apiVersion: 'infra-hub.planton.cloud/v1',
  kind: 'StackJob',
  metadata: {
    id: STACK_JOB_ID,
    name: 'eks_01jq5xe4z7farkgenqsh47c1h0',
    org: 'acmecorp',
    env: 'production',
    version: { id: 'ver-01jsrnmrwjn57drj0ekht8hb93', message: 'Scale EKS node group from 3 to 5 nodes' },
  },
  spec: {
    apiResourceInfo: {
      kind: 'aws_eks_cluster',
      id: 'eks_01jq5xe4z7farkgenqsh47c1h0',
      name: 'prod-api-cluster',
      versionId: 'ver-01jsrnmrwjn57drj0ekht8hb93',
      triggerEvent: 'updated',
      eventCreatedBy: 'user@company.com',
      spec: { nodeGroup: { desiredSize: 5 } },
    },
    essentials: {
      provisioner: 'terraform',
      iacModule: {
        id: 'iacmod_platform_eks_terraform',
        gitRepo: 'github.com/project-planton/aws-eks',
        branch: 'v2.3.0',
        path: 'terraform',
        provider: 'aws',
        rule: 'platform-default',
      },
      backendCredential: {
        kind: 'terraform_backend_credential',
        id: 'tfcred_s3_backend_prod',
        type: 's3',
        config: { bucket: 'acmecorp-terraform-state', region: 'us-east-1', keyPrefix: 'stack-jobs' },
        stateKey: STATE_KEY,
      },
      providerCredential: { kind: 'aws_credential', id: 'awscred_prod_account', provider: 'aws', secretRef: 'stackjobs/acmecorp/awscred_prod_account' },
      stackJobRunner: { id: 'sjr_platform_runner', endpoint: 'runner.planton.cloud:443' },
      flowControlPolicy: {
        previewBeforeUpdate: true,
        pauseBetweenPreviewAndUpdate: true,
        skipRefresh: false,
        approvers: [],
        requireDistinctApprover: true,
        approvalTimeoutMinutes: 1440,
        source: { level: 'platform', id: 'platform-default' },
      },
    },
    operations: ['init', 'plan', 'apply'],
  },
  status: {
    phase: 'queued',
    result: 'tbd',
    createdAt: '2025-04-24T09:12:31.000Z',
    updatedAt: '2025-04-24T09:12:31.000Z',
    operations: (['init', 'plan', 'apply'] as const).map((name) => ({ name, status: 'pending' as const, result: 'tbd' as const, errors: [] })),
    preflight: passedChecksExample,
  },
};

/** Example values by component name; test/openapi validates each against its component. */
export const componentExamples: Record<string, unknown> = {
  ResourceChange: resourceChangeExample,
  StackJob: stackJobExample,
  PreflightResult: { passed: true, checks: passedChecksExample },
  Problem: {
    type: 'https://stackjobs.dev/problems/invalid-request',
    title: 'Invalid request',
    status: 400,
    detail: 'resource change is invalid',
    errors: [
      { path: 'triggerEvent', message: 'Invalid option: expected one of "created"|"updated"|"deleted"' },
      { path: 'resource.org', message: 'Too small: expected string to have >=1 characters' },
    ],
  },
  PreflightFailedProblem: {
    type: 'https://stackjobs.dev/problems/pre-flight-failed',
    title: 'Pre-flight failed',
    status: 422,
    detail: 'one or more pre-flight checks failed; no job was created',
    checks: [
      { check: 'credential', passed: false, messages: ['no aws credential of org acmecorp is mapped to environment staging'] },
      {
        check: 'module',
        passed: false,
        messages: ['no module for resource kind aws_rds_instance: org acmecorp has no custom module, and the platform has no default module for it'],
      },
      passedChecksExample[2],
      passedChecksExample[3],
    ],
  },
  ProviderCredential: {
    id: 'awscred_prod_account',
    org: 'acmecorp',
    provider: 'aws',
    kind: 'aws_credential',
    environments: ['production'],
    permissions: ['eks:*', 'ec2:DescribeSubnets'],
    secretRef: 'stackjobs/acmecorp/awscred_prod_account',
  },
  BackendCredential: {
    id: 'tfcred_s3_backend_prod',
    org: 'acmecorp',
    provisioner: 'terraform',
    kind: 'terraform_backend_credential',
    type: 's3',
    config: { bucket: 'acmecorp-terraform-state', region: 'us-east-1', keyPrefix: 'stack-jobs' },
  },
  Me: {
    subject: 'pat@acmecorp.example',
    platformAdmin: false,
    orgs: [
      { org: 'acmecorp', roles: ['operator', 'approver'], permissions: ['read', 'submit', 'approve'] },
      { org: 'globex', roles: ['viewer'], permissions: ['read'] },
    ],
  },
  IacModule: {
    id: 'iacmod_platform_eks_terraform',
    scope: 'platform',
    resourceKind: 'aws_eks_cluster',
    provisioner: 'terraform',
    provider: 'aws',
    gitRepo: 'github.com/project-planton/aws-eks',
    branch: 'v2.3.0',
    path: 'terraform',
    permissions: ['eks:CreateCluster', 'ec2:DescribeSubnets'],
    isDefault: true,
  },
};

export const EXAMPLE_SUMMARIES: Record<string, string> = {
  ResourceChange: "acmecorp scales its production EKS cluster's node group from 3 to 5 nodes",
  StackJob: 'the frozen job for that change, just submitted',
  PreflightResult: 'every check passed',
  Problem: 'a change with an unknown trigger and an empty org',
  PreflightFailedProblem: 'no credential for staging and no module for the kind',
  Me: 'an operator and approver in acmecorp who also reads globex',
};
