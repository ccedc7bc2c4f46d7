/** The deployment's identity: account, region and stack name (CloudFormation resolves the first two at deploy). */
import { Aws, Fn, Stack } from 'aws-cdk-lib';
import type { Construct } from 'constructs';

/** With an org, it gives the STS ExternalId of that org's provider roles (lambdas/domain/external-id.ts). */
export function deploymentId(scope: Construct): string {
  return Fn.join(':', [Aws.ACCOUNT_ID, Aws.REGION, Stack.of(scope).stackName]);
}
