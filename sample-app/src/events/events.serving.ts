import { Serving, type ServingHandler } from 'nestjs-batch-serving';
import { assertNewEvent, type NewEvent, type SavedEvent } from './event';
import { EventsStore } from './events.store';

/**
 * Write coalescing: the events of every request that arrives within 5 ms (or 64 of them) are
 * written in one transaction. A malformed event is refused by validate() before it joins a batch,
 * so it can never roll back the others' transaction.
 */
@Serving({ name: 'events', batchSize: 64, batchTimeout: 5 })
export class EventWriterServing implements ServingHandler<NewEvent, SavedEvent> {
  constructor(private readonly store: EventsStore) {}

  validate(event: NewEvent): void {
    assertNewEvent(event);
  }

  handleBatch(events: NewEvent[]): SavedEvent[] {
    return this.store.insertMany(events);
  }
}
