/** dynalite on a loopback port picked by the OS, with the tables created from table-definitions.ts. */
import { createTables, LOCAL_CREDENTIALS, startEmbeddedDynamo, type EmbeddedDynamo } from '../../../local/embedded-dynamo';
import { documentClient } from '../../../lambdas/adapters/dynamodb/client';
import { TABLES } from '../../../lambdas/adapters/dynamodb/table-definitions';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export const JOBS = 'jobs';

export interface TestDynamo {
  server: EmbeddedDynamo;
  db: DynamoDBDocumentClient;
  stop(): Promise<void>;
}

export async function startDynamo(): Promise<TestDynamo> {
  const server = await startEmbeddedDynamo();
  await createTables(server.endpoint, TABLES);
  const db = documentClient({ endpoint: server.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  return {
    server,
    db,
    stop: async () => {
      db.destroy();
      await server.stop();
    },
  };
}
