/** EventBridge behind the EventPublisher port: one PutEvents per event, each detail checked against its declared shape, failed entries surfaced as errors. */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { checkedDetail, type EventDetail, type EventType } from '../../domain/events';
import type { EventPublisher } from '../../domain/ports';
import { clientOf, eventsSdk, type ClientRef } from './sdk';

export const EVENT_SOURCE = 'stackjobs';

export class EventBridgePublisher implements EventPublisher {
  constructor(
    private readonly client: ClientRef<EventBridgeClient>,
    private readonly busName: string,
  ) {}

  async publish<T extends EventType>(detailType: T, detail: EventDetail<T>): Promise<void> {
    // Checked before it leaves: a detail that strays from its declared shape is a bug, and no subscriber should see it.
    const checked = checkedDetail(detailType, detail);
    const out = await clientOf(this.client).send(
      new (eventsSdk().PutEventsCommand)({
        Entries: [{ EventBusName: this.busName, Source: EVENT_SOURCE, DetailType: detailType, Detail: JSON.stringify(checked) }],
      }),
    );
    if (out.FailedEntryCount) {
      const entry = out.Entries?.find((e) => e.ErrorCode);
      throw new Error(`PutEvents failed: ${entry?.ErrorCode ?? 'unknown'} ${entry?.ErrorMessage ?? ''}`.trim());
    }
  }
}
