/**
 * SDK v3 clients, one per process. Endpoints follow the SDK's own `AWS_ENDPOINT_URL_<SERVICE>` variables
 * (AWS_ENDPOINT_URL_DYNAMODB, _S3, _SFN, _SECRETS_MANAGER, _EVENTBRIDGE, _ECS, _STS), which is how local mode
 * points the unchanged production code at its loopback stand-ins.
 */
import { ECSClient } from '@aws-sdk/client-ecs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { STSClient } from '@aws-sdk/client-sts';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '../dynamodb/client';
import { lazy } from '../../shared/lazy';

/** s3rver (local mode) only speaks path-style addressing; AWS itself prefers virtual-hosted. */
const s3PathStyle = () => process.env.STACKJOBS_S3_FORCE_PATH_STYLE === 'true';

// One export per service, each marked pure: a handler's bundle keeps only the SDK clients it calls (import this
// module as a namespace, `import * as clients from`, and esbuild drops the rest).
export const dynamo = /* @__PURE__ */ lazy<DynamoDBDocumentClient>(() => documentClient());
export const s3 = /* @__PURE__ */ lazy(() => new S3Client({ forcePathStyle: s3PathStyle() }));
export const sfn = /* @__PURE__ */ lazy(() => new SFNClient({}));
export const secrets = /* @__PURE__ */ lazy(() => new SecretsManagerClient({}));
export const events = /* @__PURE__ */ lazy(() => new EventBridgeClient({}));
export const ecs = /* @__PURE__ */ lazy(() => new ECSClient({}));
export const sts = /* @__PURE__ */ lazy(() => new STSClient({}));
