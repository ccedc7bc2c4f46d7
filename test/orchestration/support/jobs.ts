/** Builds queued StackJob snapshots for the orchestration tests, validated against the real schema. */
import { API_VERSION, stackJobSchema, type StackJob } from '../../../lambdas/domain/schemas';
import { planOperations } from '../../../lambdas/domain/planner';
import { ulidIds } from '../../../lambdas/domain/ids';

const ids = ulidIds();

export interface JobOptions {
  resourceId?: string;
  previewBeforeUpdate?: boolean;
  pauseBetweenPreviewAndUpdate?: boolean;
  approvalTimeoutMinutes?: number;
  /** The frozen stackJobRunner (default: the platform runner, no placement). */
  runner?: { id: string; cluster?: string; taskDefinition?: string; subnets?: string[]; securityGroups?: string[] };
}

/** A fresh job id: ULIDs, so later calls sort after earlier ones (submission order). */
export const nextJobId = (): string => ids.next('sj');

export function makeJob(options: JobOptions = {}, id = nextJobId()): StackJob {
  const flow = {
    previewBeforeUpdate: options.previewBeforeUpdate ?? true,
    pauseBetweenPreviewAndUpdate: options.pauseBetweenPreviewAndUpdate ?? true,
    skipRefresh: false,
  };
  const resourceId = options.resourceId ?? 'eks_01jq5xe4z7farkgenqsh47c1h0';
  const operations = planOperations('updated', flow, 'terraform');
  const at = new Date().toISOString();
  return stackJobSchema.parse({
    apiVersion: API_VERSION,
    kind: 'StackJob',
    metadata: {
      id,
      name: resourceId,
      org: 'acmecorp',
      env: 'production',
      version: { id: 'ver-01jsrnmrwjn57drj0ekht8hb93', message: 'Scale EKS node group from 3 to 5 nodes' },
    },
    spec: {
      apiResourceInfo: {
        kind: 'aws_eks_cluster',
        id: resourceId,
        name: 'prod-api-cluster',
        versionId: 'ver-01jsrnmrwjn57drj0ekht8hb93',
        triggerEvent: 'updated',
        eventCreatedBy: 'user@company.com',
        spec: { nodes: 5 },
      },
      essentials: {
        provisioner: 'terraform',
        iacModule: {
          id: 'iacmod_platform_eks_terraform',
          gitRepo: 'github.com/project-planton/aws-eks',
          branch: 'v2.3.0',
          path: 'terraform',
          rule: 'platform-default',
        },
        backendCredential: {
          kind: 'terraform_backend_credential',
          id: 'tfcred_s3_backend_prod',
          type: 's3',
          config: { bucket: 'acmecorp-terraform-state', region: 'us-east-1' },
          stateKey: `stack-jobs/acmecorp/production/${resourceId}.tfstate`,
        },
        stackJobRunner: options.runner ?? { id: 'sjr_platform_runner' },
        flowControlPolicy: {
          ...flow,
          approvers: [],
          requireDistinctApprover: false,
          approvalTimeoutMinutes: options.approvalTimeoutMinutes ?? 60,
          source: { level: 'platform', id: 'platform-default' },
        },
      },
      operations,
    },
    status: {
      phase: 'queued',
      result: 'tbd',
      createdAt: at,
      updatedAt: at,
      operations: operations.map((name) => ({ name, status: 'pending', result: 'tbd', errors: [] })),
      preflight: [],
    },
  });
}
