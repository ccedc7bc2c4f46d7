/** The DynamoDB document client, created once per process; endpoint overridable so the same code talks to dynalite. */
import { ConditionalCheckFailedException, DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export function documentClient(config: DynamoDBClientConfig = {}): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient(config), {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
}

/** A conditional write: true when it was made, false when its condition did not hold; any other error is thrown. */
export async function conditionalWrite(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (e) {
    if (e instanceof ConditionalCheckFailedException) return false;
    throw e;
  }
}

/** A stored item that does not have the shape its kind must have: a bug or a hand edit, never the caller's mistake. */
export class InvalidStoredItemError extends Error {
  constructor(what: string, key: { pk: string; sk: string }, issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>) {
    // Paths and messages only: a value from the item (which could hold anything) never reaches the error.
    super(
      `the stored ${what} ${key.pk} does not have its shape: ${issues
        .slice(0, 5)
        .map((i) => `${i.path.map(String).join('.') || '(item)'}: ${i.message}`)
        .join('; ')}`,
    );
    this.name = 'InvalidStoredItemError';
  }
}

/** Validates an item read from the table against its kind's schema (never `as`): a bad item fails loudly, by key. */
export function validItem<T>(
  schema: {
    safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> } };
  },
  value: unknown,
  what: string,
  key: { pk: string; sk: string },
): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new InvalidStoredItemError(what, key, parsed.error.issues);
  return parsed.data;
}
