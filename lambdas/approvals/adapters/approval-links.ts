/** Short-lived presigned links for the Slack message: the full plan JSON and the plan operation's log. */
import type { S3Client } from '@aws-sdk/client-s3';
import { clientOf, s3PresignSdk, s3Sdk, type ClientRef } from '../../adapters/aws/sdk';
import { artifactKeys } from '../../adapters/s3/artifact-keys';
import type { Clock } from '../../domain/ids';
import type { ApprovalLinks } from '../slack-message';

/** Long enough to read the message and click through, short enough that a forwarded link dies soon; fresh ones come from GET /v1/stack-jobs/{id}/plan. */
export const APPROVAL_LINK_SECONDS = 3600;

export async function presignedApprovalLinks(s3: ClientRef<S3Client>, bucket: string, jobId: string, clock: Clock): Promise<ApprovalLinks> {
  const sign = (key: string) =>
    s3PresignSdk().getSignedUrl(clientOf(s3), new (s3Sdk().GetObjectCommand)({ Bucket: bucket, Key: key }), { expiresIn: APPROVAL_LINK_SECONDS });
  const [planUrl, logsUrl] = await Promise.all([sign(artifactKeys.planJson(jobId)), sign(artifactKeys.logChunk(jobId, 'preview', 'plan', 1))]);
  return { planUrl, logsUrl, expiresAt: new Date(clock.now().getTime() + APPROVAL_LINK_SECONDS * 1000).toISOString() };
}
