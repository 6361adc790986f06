import { BoundedMap } from './bounded-map';
import * as messages from './security.messages';

/** Counters of one signer, as far back as WINDOW: the IPsec anti-replay window. */
interface Window {
  highest: number;
  /** Bit `c % WINDOW` is set when counter `c` (within WINDOW of `highest`) was seen. */
  seen: Uint8Array;
}

/** How far out of order one signer's messages may arrive (they travel on different subjects). */
export const WINDOW = 4096;
/** How far a signature's time may be from this process's clock: fleets keep their clocks in sync (NTP). */
export const MAX_SKEW_MS = 30_000;
/** Signers remembered at once; each costs WINDOW / 8 bytes. */
export const MAX_SIGNERS = 10_000;

/**
 * Refuses a signed message that was already received once. Each process numbers what it signs
 * (one counter for all its messages); a counter seen before, or older than the window, is a replay.
 * A signer forgotten (silent past MAX_SKEW_MS, or pushed out by MAX_SIGNERS newer ones) can no
 * longer be replayed either: what it signed before is older than MAX_SKEW_MS by then, and refused
 * by its time. Only holders of the key create entries here, so the table bounds memory, not trust.
 */
export class ReplayGuard {
  private readonly signers = new BoundedMap<string, Window & { at: number }>(MAX_SIGNERS);

  /** The reason to refuse, or undefined when (signer, counter, time) is new and fresh. */
  check(signer: string, counter: number, signedAt: number, now = Date.now()): string | undefined {
    if (Math.abs(now - signedAt) > MAX_SKEW_MS) return messages.stale(now - signedAt, MAX_SKEW_MS);
    let window = this.signers.get(signer);
    if (!window) {
      window = { highest: counter, seen: new Uint8Array(WINDOW / 8), at: now };
      this.signers.set(signer, window);
    }
    window.at = now;
    if (counter > window.highest) {
      // Slide the window forward: the counters it leaves behind free their bits for the new ones.
      const gap = counter - window.highest;
      if (gap >= WINDOW) window.seen.fill(0);
      else for (let c = window.highest + 1; c <= counter; c++) clear(window.seen, c);
      window.highest = counter;
    } else if (window.highest - counter >= WINDOW) {
      return messages.replayed(signer);
    } else if (test(window.seen, counter)) {
      return messages.replayed(signer);
    }
    set(window.seen, counter);
    return undefined;
  }

  /** Forgets signers silent for longer than their signatures stay fresh. */
  sweep(now = Date.now()): void {
    this.signers.prune((window) => now - window.at > 2 * MAX_SKEW_MS);
  }
}

const bit = (c: number) => c % WINDOW;
const test = (seen: Uint8Array, c: number) => (seen[bit(c) >> 3] & (1 << (bit(c) & 7))) !== 0;
const set = (seen: Uint8Array, c: number) => void (seen[bit(c) >> 3] |= 1 << (bit(c) & 7));
const clear = (seen: Uint8Array, c: number) => void (seen[bit(c) >> 3] &= ~(1 << (bit(c) & 7)));
