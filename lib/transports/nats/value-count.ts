/*
 * Counts the values in encoded bytes without decoding them, stopping once past `limit`: what a
 * message will cost to decode, measured on the bytes themselves rather than on what their headers
 * claim (an array header saying "4 billion elements" costs one value; each element is counted
 * when it is actually there). Malformed bytes count as Infinity: the decoder would refuse them.
 */

/** Fixed sizes of the MessagePack types from 0xc0 on (header included); -1 unused, 0 variable. */
const FIXED = new Int8Array(32);
FIXED.set([1, -1, 1, 1, 0, 0, 0, 0, 0, 0, 5, 9, 2, 3, 5, 9, 2, 3, 5, 9, 3, 4, 6, 10, 18, 0, 0, 0, 3, 5, 3, 5]);

export function countMsgpack(bytes: Uint8Array, limit: number): number {
  try {
    return walk(bytes, limit);
  } catch {
    return Infinity; // a length read past the end (RangeError): truncated bytes
  }
}

function walk(bytes: Uint8Array, limit: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let count = 0;
  let at = 0;
  while (at < bytes.length) {
    if (++count > limit) return count;
    const b = bytes[at];
    if (b < 0xa0 || b >= 0xe0) at += 1; // fixint, fixmap, fixarray, negative fixint
    else if (b < 0xc0) at += 1 + (b & 0x1f); // fixstr
    else {
      const fixed = FIXED[b - 0xc0];
      if (fixed === -1) return Infinity;
      if (fixed > 0) at += fixed;
      else if (b === 0xc4 || b === 0xd9) at += 2 + view.getUint8(at + 1); // bin8, str8
      else if (b === 0xc5 || b === 0xda) at += 3 + view.getUint16(at + 1); // bin16, str16
      else if (b === 0xc6 || b === 0xdb) at += 5 + view.getUint32(at + 1); // bin32, str32
      else if (b === 0xc7) at += 3 + view.getUint8(at + 1); // ext8
      else if (b === 0xc8) at += 4 + view.getUint16(at + 1); // ext16
      else at += 6 + view.getUint32(at + 1); // ext32
    }
  }
  return at === bytes.length ? count : Infinity;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** JSON: one value per `[`, `{` and `,` outside strings, plus the first. */
export function countJson(bytes: Uint8Array, limit: number): number {
  let count = 1;
  let inString = false;
  for (let at = 0; at < bytes.length; at++) {
    const b = bytes[at];
    if (inString) {
      if (b === BACKSLASH) at++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if (b === 0x5b || b === 0x7b || b === 0x2c) {
      if (++count > limit) return count;
    }
  }
  return count;
}
