import * as messages from './nats.messages';
import type { TransportLogger } from './options';

const WINDOW_MS = 10_000;
const PER_WINDOW = 10;

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
      this.logger.warn(messages.refusedMessage(subject, reason));
    } else {
      this.suppressed++;
    }
  }

  /** Called once per heartbeat, so that the count of a burst is logged even if nothing follows it. */
  tick(): void {
    this.roll();
  }

  private roll(): void {
    const now = performance.now();
    if (now - this.since < WINDOW_MS) return;
    if (this.suppressed > 0) this.logger.warn(messages.suppressed(this.suppressed, Math.round((now - this.since) / 1000)));
    this.since = now;
    this.logged = 0;
    this.suppressed = 0;
  }
}
