/** The S3 backend's native lock (`use_lockfile = true`, what the runner sets without a lock table): the object `<key>.tflock`. */
import type { S3Client } from '@aws-sdk/client-s3';
import { httpStatusOf } from '../aws/backend-clients';
import { s3Sdk } from '../aws/sdk';
import { parseLockInfo, type FoundLock } from './lock-info';

export const lockObjectKey = (stateKey: string) => `${stateKey}.tflock`;

export async function readS3LockObject(s3: S3Client, bucket: string, stateKey: string): Promise<FoundLock | undefined> {
  const Key = lockObjectKey(stateKey);
  let out;
  try {
    out = await s3.send(new (s3Sdk().GetObjectCommand)({ Bucket: bucket, Key }));
  } catch (e) {
    if (httpStatusOf(e) === 404) return undefined;
    throw e;
  }
  const raw = (await out.Body?.transformToString()) ?? '';
  // Terraform writes the object with If-None-Match and deletes it on unlock; an empty one is no lock.
  if (raw === '') return undefined;
  const etag = out.ETag;
  return {
    lock: parseLockInfo(raw, 's3-object', true),
    async remove() {
      try {
        // If-Match: only the object that was read, not a lock another run has taken since.
        await s3.send(new (s3Sdk().DeleteObjectCommand)({ Bucket: bucket, Key, ...(etag ? { IfMatch: etag } : {}) }));
        return true;
      } catch (e) {
        if (httpStatusOf(e) === 412 || httpStatusOf(e) === 404) return false;
        throw e;
      }
    },
  };
}
