import * as messages from './nats.messages';
import type { TransportLogger } from './options';

const WINDOW_MS = 10_000;
const PER_WINDOW = 10;
/** A refusal names what was wrong, not the sender's data: longer subjects and reasons are cut. */
export const MAX_LOGGED_CHARS = 200;

const cut = (text: string) => (text.length > MAX_LOGGED_CHARS ? `${text.slice(0, MAX_LOGGED_CHARS)}… (${text.length - MAX_LOGGED_CHARS} more characters)` : text);

/**
 * Logs refused messages, at most PER_WINDOW every WINDOW_MS and then a count: a process
 * flooding a subject with garbage must not flood the log too.
 */
export class RefusalLog {
  private since = performance.now();
  private logged = 0;
  private suppressed = 0;

  constructor(private readonly logger: TransportLogger) {}

  refuse(subject: string, reason: string): void {
    this.roll();
    if (this.logged < PER_WINDOW) {
      this.logged++;
      this.logger.warn(messages.refusedMessage(cut(subject), cut(reason)));
    } else {
      this.suppressed++;
    }
  }

  /** Called once per heartbeat, so that the count of a burst is logged even if nothing follows it. */
  tick(): void {
    this.roll();
  }

  /** At close: the count of what was not logged, now rather than never. */
  flush(): void {
    this.roll(true);
  }

  private roll(force = false): void {
    const now = performance.now();
    if (!force && now - this.since < WINDOW_MS) return;
    if (this.suppressed > 0) this.logger.warn(messages.suppressed(this.suppressed, Math.round((now - this.since) / 1000)));
    this.since = now;
    this.logged = 0;
    this.suppressed = 0;
  }
}
