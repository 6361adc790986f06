import { createHmac, timingSafeEqual } from 'node:crypto';
import { ReplayGuard } from './replay-guard';
import * as messages from './security.messages';

const MAC_BYTES = 32;
/** After the payload: signer id, its length (1 byte), counter (8), time in ms (8), HMAC (32). */
const FIXED_TRAILER = 1 + 8 + 8 + MAC_BYTES;

/** What a verified message says about itself. */
export interface Opened {
  payload: Uint8Array;
  signer: string;
}

/**
 * HMAC-SHA256 signatures on every message (`natsTransport({ key })`). The signature covers the
 * subject, the payload, the signer's id, a counter and the time: a signed message cannot be moved
 * to another subject (a reply to another caller, a request to another member), nor sent twice
 * (ReplayGuard), nor kept and sent later. It travels as a trailer after the codec's bytes, so it
 * works with any codec. Signs with the first key, accepts any of them: a key is rotated by adding
 * the new one second everywhere, then first everywhere, then removing the old one.
 */
export class Signer {
  private readonly keys: Buffer[];
  private readonly id: Buffer;
  private counter = 0;
  private readonly replays = new ReplayGuard();

  constructor(keys: readonly string[], self: string) {
    this.keys = keys.map((key) => Buffer.from(key, 'utf8'));
    this.id = Buffer.from(self, 'latin1');
  }

  /** Bytes a signature adds to every message. */
  get overhead(): number {
    return this.id.length + FIXED_TRAILER;
  }

  seal(subject: string, payload: Uint8Array): Uint8Array {
    const out = Buffer.allocUnsafe(payload.length + this.overhead);
    out.set(payload, 0);
    let at = payload.length;
    at += this.id.copy(out, at);
    out[at++] = this.id.length;
    at = out.writeDoubleBE(++this.counter, at);
    at = out.writeDoubleBE(Date.now(), at);
    mac(this.keys[0], subject, out.subarray(0, at)).copy(out, at);
    return out;
  }

  /** The payload and its signer, or the reason to refuse the message. */
  open(subject: string, data: Uint8Array): Opened | string {
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (bytes.length < FIXED_TRAILER) return messages.unsigned();
    const macAt = bytes.length - MAC_BYTES;
    const idLength = bytes[macAt - 17];
    const idAt = macAt - 17 - idLength;
    if (idLength === 0 || idAt < 0) return messages.unsigned();
    const signed = bytes.subarray(0, macAt);
    const given = bytes.subarray(macAt);
    if (!this.keys.some((key) => timingSafeEqual(mac(key, subject, signed), given))) return messages.badSignature();
    const signer = bytes.toString('latin1', idAt, idAt + idLength);
    const refused = this.replays.check(signer, bytes.readDoubleBE(macAt - 16), bytes.readDoubleBE(macAt - 8));
    if (refused) return refused;
    return { payload: bytes.subarray(0, idAt), signer };
  }

  /** Once per heartbeat: forgets signers whose signatures have all gone stale. */
  sweep(): void {
    this.replays.sweep();
  }
}

/** The subject's length goes in first, so that no split of subject and payload collides with another. */
function mac(key: Buffer, subject: string, signed: Uint8Array): Buffer {
  const length = Buffer.allocUnsafe(4);
  length.writeUInt32BE(Buffer.byteLength(subject), 0);
  return createHmac('sha256', key).update(length).update(subject).update(signed).digest();
}
