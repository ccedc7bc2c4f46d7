/**
 * The AWS SDK packages other than DynamoDB's, loaded on first use. A Lambda's initialisation then evaluates only
 * what every invocation needs (DynamoDB, the app); a request evaluates the SFN, S3, STS... packages when it first
 * calls that service, and a request that never does (reading a job, the catalog) never pays for them.
 * Each `require` below runs on the first call. Deployed, the packages come from the AWS SDK layer (the lockfile's
 * versions, infra/sdk-layer.ts); with `stackjobs:awsSdk=bundle` esbuild bundles them, and since each loader is marked
 * pure, a handler that never calls one does not bundle its package at all.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- a deferred load is the point of this module */
import { lazy } from '../../shared/lazy';

export const sfnSdk = /* @__PURE__ */ lazy(() => require('@aws-sdk/client-sfn') as typeof import('@aws-sdk/client-sfn'));
export const s3Sdk = /* @__PURE__ */ lazy(() => require('@aws-sdk/client-s3') as typeof import('@aws-sdk/client-s3'));
export const stsSdk = /* @__PURE__ */ lazy(() => require('@aws-sdk/client-sts') as typeof import('@aws-sdk/client-sts'));
export const secretsSdk = /* @__PURE__ */ lazy(() => require('@aws-sdk/client-secrets-manager') as typeof import('@aws-sdk/client-secrets-manager'));
export const eventsSdk = /* @__PURE__ */ lazy(() => require('@aws-sdk/client-eventbridge') as typeof import('@aws-sdk/client-eventbridge'));
export const ecsSdk = /* @__PURE__ */ lazy(() => require('@aws-sdk/client-ecs') as typeof import('@aws-sdk/client-ecs'));
export const schedulerSdk = /* @__PURE__ */ lazy(() => require('@aws-sdk/client-scheduler') as typeof import('@aws-sdk/client-scheduler'));
export const s3UploadSdk = /* @__PURE__ */ lazy(() => require('@aws-sdk/lib-storage') as typeof import('@aws-sdk/lib-storage'));
export const s3PresignSdk = /* @__PURE__ */ lazy(() => require('@aws-sdk/s3-request-presigner') as typeof import('@aws-sdk/s3-request-presigner'));

/** A client, or how to make it on first use (lazy clients from clients.ts): adapters accept either. */
export type ClientRef<T> = T | (() => T);

export const clientOf = <T extends object>(ref: ClientRef<T>): T => (typeof ref === 'function' ? (ref as () => T)() : ref);
