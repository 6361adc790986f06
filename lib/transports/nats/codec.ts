import { Packr } from 'msgpackr';
import { countJson, countMsgpack } from './value-count';

/**
 * Turns the transport's messages into bytes and back. Inputs, outputs, hook payloads and `context`
 * travel inside those messages, so they must survive the codec. The default, `msgpackCodec`,
 * carries them as they left; `jsonCodec` turns a `Date` into a string, `undefined` in an array
 * and `NaN` into `null`, and a `Map` or `Set` into `{}`.
 *
 * Every process of one fleet must use the same codec: a message that does not decode is refused.
 */
export interface Codec {
  encode(message: unknown): Uint8Array;
  /** Throws on bytes it cannot read; the transport then refuses the message and logs it. */
  decode(data: Uint8Array): unknown;
  /**
   * Counts the values in `data` without decoding it, stopping once past `limit`: lets a process
   * refuse a message too costly to decode before decoding it. Optional: without it, only the
   * server's max_payload bounds what a message may cost.
   */
  count?(data: Uint8Array, limit: number): number;
}

/**
 * MessagePack (msgpackr) with the settings that keep values as they left:
 * - `useRecords` writes plain objects as records, so that `mapsAsObjects: false` can give a `Map`
 *   back as a `Map` and an object as an object; each message carries its own record shapes
 *   (no state shared between messages, so any process can read any message);
 * - `moreTypes` carries typed arrays (a `Float32Array` embedding crosses as its bytes) and `Set`;
 * - `int64AsType: 'bigint'` and `useBigIntExtension` bring a `BigInt` back as a `BigInt`, of any size.
 * `undefined`, `NaN`, `±Infinity` and `Date` are native to it. What it does not keep: `-0` (arrives
 * as `0`), class instances (arrive as plain objects), and a `__proto__` key (renamed, so that a
 * message cannot reach an object's prototype).
 */
const packr = new Packr({ useRecords: true, mapsAsObjects: false, moreTypes: true, int64AsType: 'bigint', useBigIntExtension: true });

/** The default codec: MessagePack that keeps `undefined`, `NaN`, `Infinity`, `Date`, `Map`, `Set`, `BigInt` and typed arrays. */
export const msgpackCodec: Codec = {
  encode: (message) => packr.pack(message),
  decode: (data) => packr.unpack(data),
  count: countMsgpack,
};

/** JSON text in UTF-8, for fleets that want a readable wire; see Codec for what it changes. */
export const jsonCodec: Codec = {
  encode: (message) => Buffer.from(JSON.stringify(message)),
  // A Buffer view over the same memory: no copy before parsing.
  decode: (data) => JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8')),
  count: countJson,
};
