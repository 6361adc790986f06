import type { Codec } from './codec';
import { MAX_VALUES } from './bounds';
import { tooManyValues, wrongSigner } from './security.messages';

/**
 * Coalescing: what is pushed for one destination during an event-loop turn leaves as one message
 * at the end of the turn (a setImmediate), not one message per item. The end of the turn is the
 * shortest window that still gathers everything a burst of callers (or one finished batch) produced.
 */
export class Outbox<T> {
  private pending = new Map<string, T[]>();
  private scheduled = false;

  constructor(private readonly send: (destination: string, items: T[]) => void) {}

  push(destination: string, item: T): void {
    const items = this.pending.get(destination);
    if (items) items.push(item);
    else this.pending.set(destination, [item]);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Sends everything pending now (also called at close, so that nothing is left behind). */
  flush(): void {
    this.scheduled = false;
    if (this.pending.size === 0) return;
    const pending = this.pending;
    this.pending = new Map();
    for (const [destination, items] of pending) this.send(destination, items);
  }
}

/**
 * Encodes `items` into as few messages as fit under `maxBytes` (the server's max_payload), in
 * order: a message too large (in bytes, or in values: MAX_VALUES) is split in halves until the
 * parts fit. An item too large on its own is handed to `tooLarge` (with its count of values when
 * that is what is too large), which may return a small replacement (an error to send instead); one
 * the codec cannot encode at all, to `unencodable`, likewise. Only an oversized or unencodable
 * batch pays for the extra encodings. `chunk` is called for each message as soon as it is
 * encoded, in order.
 */
export function encodeFitting<T>(
  codec: Codec,
  maxBytes: number,
  items: T[],
  envelope: (items: T[]) => unknown,
  chunk: (items: T[], data: Uint8Array) => void,
  tooLarge: (item: T, bytes: number, values: number | undefined) => T | undefined,
  unencodable: (item: T, error: unknown) => T | undefined,
): void {
  let data: Uint8Array;
  try {
    data = codec.encode(envelope(items));
  } catch (error) {
    // One item the codec cannot carry (a BigInt, a cycle for JSON) must not sink the others of
    // its message: halve until it stands alone, and hand it over.
    if (items.length === 1) {
      const replacement = unencodable(items[0], error);
      if (replacement !== undefined) encodeFitting(codec, maxBytes, [replacement], envelope, chunk, () => undefined, () => undefined);
      return;
    }
    return halves(codec, maxBytes, items, envelope, chunk, tooLarge, unencodable);
  }
  const values = valuesAbove(codec, data);
  if (data.length <= maxBytes && values === undefined) return chunk(items, data);
  if (items.length === 1) {
    const replacement = tooLarge(items[0], data.length, values);
    if (replacement !== undefined) encodeFitting(codec, maxBytes, [replacement], envelope, chunk, () => undefined, () => undefined);
    return;
  }
  halves(codec, maxBytes, items, envelope, chunk, tooLarge, unencodable);
}

function halves<T>(...args: Parameters<typeof encodeFitting<T>>): void {
  const [codec, maxBytes, items, envelope, chunk, tooLarge, unencodable] = args;
  const half = items.length >> 1;
  encodeFitting(codec, maxBytes, items.slice(0, half), envelope, chunk, tooLarge, unencodable);
  encodeFitting(codec, maxBytes, items.slice(half), envelope, chunk, tooLarge, unencodable);
}

/** What the caller and member sides need of the connection. */
export interface Link {
  /** This process's id on NATS. */
  readonly self: string;
  readonly codec: Codec;
  /** Publishes; false (and logged) when the connection refused it. */
  publish(subject: string, data: Uint8Array, reply?: string): boolean;
  /** The server's max_payload in bytes. */
  maxPayload(): number;
  /** Logs a refused message, without flooding the log. */
  refuse(subject: string, reason: string): void;
  /** The codec's bytes of a received message and who signed it (when signing is on), or the reason to refuse it. */
  open(subject: string, data: Uint8Array): { payload: Uint8Array; signer?: string } | string;
}

/** Decodes and checks a received message; refuses (logs) it and returns undefined when it is not one of ours. */
export function decodeMessage<T extends { from: string }>(link: Link, data: Uint8Array, subject: string, parse: (message: unknown) => T | string): T | undefined {
  const opened = link.open(subject, data);
  if (typeof opened === 'string') return void link.refuse(subject, opened);
  // Counted before decoding: what a message costs to decode must not depend on what it claims.
  if (valuesAbove(link.codec, opened.payload) !== undefined) return void link.refuse(subject, tooManyValues(MAX_VALUES));
  let decoded: unknown;
  try {
    decoded = link.codec.decode(opened.payload);
  } catch (error) {
    link.refuse(subject, `it does not decode (${error instanceof Error ? error.message : String(error)})`);
    return undefined;
  }
  const parsed = parse(decoded);
  if (typeof parsed === 'string') return void link.refuse(subject, parsed);
  // A holder of the key speaks only for itself: it cannot sign a reply or a goodbye in another's name.
  if (opened.signer !== undefined && parsed.from !== opened.signer) return void link.refuse(subject, wrongSigner(opened.signer, parsed.from));
  return parsed;
}

/** The count of values in `data` when above MAX_VALUES, else undefined (a message of fewer bytes is not counted). */
export function valuesAbove(codec: Codec, data: Uint8Array): number | undefined {
  if (data.length <= MAX_VALUES || !codec.count) return undefined;
  const values = codec.count(data, MAX_VALUES);
  return values > MAX_VALUES ? values : undefined;
}
