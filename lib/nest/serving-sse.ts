import type { MessageEvent } from '@nestjs/common';
import { map, type OperatorFunction } from 'rxjs';
import type { ServingEvent } from '../core/types';

/**
 * For an `@Sse()` route: `client.stream(…).pipe(toSseEvents())`. Each ServingEvent becomes the
 * JSON `data` of one message (Nest would read an event's own `type` field as the SSE event name
 * and send no data). The browser's `onmessage` gets them all, in order.
 */
export function toSseEvents<O>(): OperatorFunction<ServingEvent<O>, MessageEvent> {
  return map((event) => ({ data: event }));
}
