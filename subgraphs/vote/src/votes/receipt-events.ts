// Receipt status changes by receipt id, for `voteReceipt` subscriptions. They arrive in two message
// types (docs/contracts/bus.md): `receipts`, one per worker batch with every receipt it changed,
// and `receipt`, one receipt each: castVote's PENDING, and the decided statuses of workers released
// before `receipts` existed (still running during a rolling upgrade). Both are routed alike: each
// change of a `receipts` message reaches the handlers of its receipt as the `receipt` it stands for.
import type { BusLogger, EventBus } from '@votemesh/common/bus/event-bus';
import { createKeyedRouter, keyedItems, keyedMessages, type KeyedRouter } from '@votemesh/common/bus/keyed-router';
import { receiptUpdatesOf, type ReceiptUpdate } from '@votemesh/common/contracts/bus';

export function createReceiptEvents(bus: EventBus, logger: BusLogger): KeyedRouter<ReceiptUpdate> {
  return createKeyedRouter(
    bus,
    [
      keyedMessages('receipt', (message) => message.receiptId),
      keyedItems('receipts', (message, route: (key: string, value: ReceiptUpdate) => void) => {
        for (const update of receiptUpdatesOf(message)) route(update.receiptId, update);
      }),
    ],
    logger,
  );
}
