import type { MessageEvent } from '@nestjs/common';
import { catchError, endWith, map, of, type OperatorFunction } from 'rxjs';
import { BatchServingError } from '../core/errors';
import type { ServingEvent } from '../core/types';
import { publicErrorBody, type BatchServingErrorBody } from './batch-serving-exception.filter';

/**
 * Gives an event a non-enumerable `data`: a plain copy of itself. Nest's `@Sse()` writes a
 * message's `type` as the SSE event name and its `data` as the payload, so `client.stream()` can
 * be returned from an `@Sse()` handler as it is, while the event keeps its documented shape.
 * Nest's concern, so it lives here and not in the framework-free core.
 */
export function withSseData<E extends ServingEvent<unknown>>(event: E): E {
  return Object.defineProperty(event, 'data', { value: { ...event }, enumerable: false });
}

/** Name of the last event of every stream shaped by `toSseEvents()`: a page closes its EventSource on it. */
export const SSE_END_EVENT = 'end';

/** Data of the `end` event: `{ ok: true }`, or the error the stream failed with, as the exception filter answers it. */
export type SseEnd = { ok: true } | ({ ok: false } & BatchServingErrorBody);

/** Options of `toSseEvents()`. */
export interface SseEventsOptions {
  /** Send each event under its own name (`hook`, `batch`), for `addEventListener`, rather than as unnamed messages for `onmessage`. Default false. */
  named?: boolean;
}

/**
 * For an `@Sse()` route: `client.stream(…).pipe(toSseEvents())`. Each ServingEvent becomes the
 * JSON `data` of one message (Nest would read an event's own `type` field as the SSE event name
 * and send no data). The stream ends with a named `end` event, also when the dispatch fails:
 * a browser's EventSource reconnects when a stream simply closes, and that would run the
 * dispatch again. A page listens for `end` and closes.
 */
export function toSseEvents<O>(options: SseEventsOptions = {}): OperatorFunction<ServingEvent<O>, MessageEvent> {
  return (events) =>
    events.pipe(
      map((event): MessageEvent => (options.named ? { type: event.type, data: event } : { data: event })),
      endWith(endEvent({ ok: true })),
      // Other errors stay Nest's: it sends them as an `error` event.
      catchError((error: unknown) => {
        if (!(error instanceof BatchServingError)) throw error;
        return of(endEvent({ ok: false, ...publicErrorBody(error) }));
      }),
    );
}

const endEvent = (data: SseEnd): MessageEvent => ({ type: SSE_END_EVENT, data });
