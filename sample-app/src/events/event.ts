/** What POST /events stores: a type name and any JSON payload. */
export interface NewEvent {
  type: string;
  payload?: unknown;
}

/** What POST /events answers: the row id SQLite gave the event. */
export interface SavedEvent {
  id: number;
}

const MAX_TYPE_LENGTH = 100;

/** Throws a TypeError naming what is wrong; the events serving's validate() turns it into INVALID_INPUT. */
export function assertNewEvent(value: unknown): asserts value is NewEvent {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new TypeError('an event must be a JSON object');
  const { type } = value as { type?: unknown };
  if (typeof type !== 'string' || type.length === 0 || type.length > MAX_TYPE_LENGTH) {
    throw new TypeError(`an event needs a "type": a string of 1 to ${MAX_TYPE_LENGTH} characters`);
  }
}
