/**
 * The S3 backend's DynamoDB lock (`dynamodb_table`, what the runner sets when the backend names a lock table): the item
 * `LockID = <bucket>/<key>` whose `Info` is the lock document. The `<bucket>/<key>-md5` item beside it is the state's
 * digest, not a lock, and is never touched.
 */
import { ConditionalCheckFailedException, DeleteItemCommand, GetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { parseLockInfo, type FoundLock } from './lock-info';

export const lockItemId = (bucket: string, stateKey: string) => `${bucket}/${stateKey}`;

export async function readLockTableItem(dynamo: DynamoDBClient, table: string, bucket: string, stateKey: string): Promise<FoundLock | undefined> {
  const Key = { LockID: { S: lockItemId(bucket, stateKey) } };
  const out = await dynamo.send(new GetItemCommand({ TableName: table, Key, ConsistentRead: true }));
  const info = out.Item?.Info?.S;
  if (info === undefined) return undefined;
  return {
    lock: parseLockInfo(info, 'dynamodb-item', true),
    async remove() {
      try {
        // Conditioned on the very Info read: a lock another run has taken since has another ID, and stays.
        await dynamo.send(
          new DeleteItemCommand({
            TableName: table,
            Key,
            ConditionExpression: '#info = :info',
            ExpressionAttributeNames: { '#info': 'Info' },
            ExpressionAttributeValues: { ':info': { S: info } },
          }),
        );
        return true;
      } catch (e) {
        if (e instanceof ConditionalCheckFailedException || (e as Error).name === 'ConditionalCheckFailedException') return false;
        throw e;
      }
    },
  };
}
