/**
 * Turns the transport's messages into bytes and back. Inputs, outputs, hook payloads and `context`
 * travel inside those messages, so they must survive the codec: with JSON (the default) a `Date`
 * arrives as a string, `undefined` in an array as `null`, and a `Map` as `{}`. A binary codec such
 * as msgpackr keeps more types and is faster on large values:
 *
 * ```ts
 * import { pack, unpack } from 'msgpackr';
 * natsTransport({ servers, codec: { encode: pack, decode: unpack } });
 * ```
 *
 * Every process of one fleet must use the same codec: a message that does not decode is refused.
 */
export interface Codec {
  encode(message: unknown): Uint8Array;
  /** Throws on bytes it cannot read; the transport then refuses the message and logs it. */
  decode(data: Uint8Array): unknown;
}

/** The default codec: JSON text in UTF-8. */
export const jsonCodec: Codec = {
  encode: (message) => Buffer.from(JSON.stringify(message)),
  // A Buffer view over the same memory: no copy before parsing.
  decode: (data) => JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8')),
};
