/**
 * The STS ExternalId Stack Jobs sends when it assumes an org's provider role (AWS's confused-deputy rule for
 * multi-tenant services): derived by the service from the deployment and the org, never chosen by a caller, so an org
 * that registers another org's role ARN assumes it with its own external id and the role's trust policy refuses it.
 * Not a secret: it is shown in the credential's API response so the account owner can put it in the trust policy.
 */
import { createHash } from 'node:crypto';

export function externalIdFor(deploymentId: string, org: string): string {
  if (!deploymentId) throw new Error('no deployment id: the external id cannot be derived (DEPLOYMENT_ID / STACKJOBS_DEPLOYMENT_ID)');
  return `stackjobs-${createHash('sha256').update(`${deploymentId}\n${org}`).digest('hex').slice(0, 40)}`;
}
