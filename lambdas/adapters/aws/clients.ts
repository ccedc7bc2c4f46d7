/**
 * SDK v3 clients, one per process. Endpoints follow the SDK's own `AWS_ENDPOINT_URL_<SERVICE>` variables
 * (AWS_ENDPOINT_URL_DYNAMODB, _S3, _SFN, _SECRETS_MANAGER, _EVENTBRIDGE, _ECS, _STS), which is how local mode
 * points the unchanged production code at its loopback stand-ins.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '../dynamodb/client';
import { lazy } from '../../shared/lazy';
import { ecsSdk, eventsSdk, s3Sdk, schedulerSdk, secretsSdk, sfnSdk, stsSdk } from './sdk';

/** s3rver (local mode) only speaks path-style addressing; AWS itself prefers virtual-hosted. */
const s3PathStyle = () => process.env.STACKJOBS_S3_FORCE_PATH_STYLE === 'true';

// One export per service, each marked pure: a handler's bundle keeps only the SDK clients it calls (import this
// module as a namespace, `import * as clients from`, and esbuild drops the rest). Pass the function itself where an
// adapter takes a ClientRef: the client (and all but DynamoDB's package, see sdk.ts) is then made on first use.
export const dynamo = /* @__PURE__ */ lazy<DynamoDBDocumentClient>(() => documentClient());
export const s3 = /* @__PURE__ */ lazy(() => new (s3Sdk().S3Client)({ forcePathStyle: s3PathStyle() }));
export const sfn = /* @__PURE__ */ lazy(() => new (sfnSdk().SFNClient)({}));
export const secrets = /* @__PURE__ */ lazy(() => new (secretsSdk().SecretsManagerClient)({}));
export const events = /* @__PURE__ */ lazy(() => new (eventsSdk().EventBridgeClient)({}));
export const ecs = /* @__PURE__ */ lazy(() => new (ecsSdk().ECSClient)({}));
export const sts = /* @__PURE__ */ lazy(() => new (stsSdk().STSClient)({}));
export const scheduler = /* @__PURE__ */ lazy(() => new (schedulerSdk().SchedulerClient)({}));
