/** EventBridge behind the EventPublisher port: one PutEvents per event, failed entries surfaced as errors. */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { EventPublisher } from '../../domain/ports';
import { clientOf, eventsSdk, type ClientRef } from './sdk';

export const EVENT_SOURCE = 'stackjobs';

export class EventBridgePublisher implements EventPublisher {
  constructor(
    private readonly client: ClientRef<EventBridgeClient>,
    private readonly busName: string,
  ) {}

  async publish(detailType: string, detail: Record<string, unknown>): Promise<void> {
    const out = await clientOf(this.client).send(
      new (eventsSdk().PutEventsCommand)({ Entries: [{ EventBusName: this.busName, Source: EVENT_SOURCE, DetailType: detailType, Detail: JSON.stringify(detail) }] }),
    );
    if (out.FailedEntryCount) {
      const entry = out.Entries?.find((e) => e.ErrorCode);
      throw new Error(`PutEvents failed: ${entry?.ErrorCode ?? 'unknown'} ${entry?.ErrorMessage ?? ''}`.trim());
    }
  }
}
