import { MAX_PEERS } from './bounds';
import type { Membership } from './membership';
import { tooManyPeers } from './security.messages';
import { heartbeatMessage, parseHeartbeat, type HeartbeatMessage, type Subjects } from './protocol';
import { decodeMessage, type Link } from './wire';

/** start() waits for members already running to answer until none has for this long. */
const DISCOVERY_QUIET_MS = 50;

/**
 * This process's presence in the fleet: the heartbeats it sends (the servings it hosts, with
 * their shares), those it receives (fed to membership), and the "who is there?" query that lets a
 * process that just started, or reconnected, learn the fleet at once rather than a heartbeat later.
 */
export class Presence {
  /** Heartbeats received: discovery waits until this stops moving. */
  private heard = 0;

  constructor(
    private readonly link: Link,
    private readonly subjects: Subjects,
    private readonly membership: Membership,
    private readonly hosted: () => HeartbeatMessage['s'],
  ) {}

  /** Announces what this process hosts; `bye` tells the others to forget it now. */
  beat(bye?: boolean): void {
    this.link.publish(this.subjects.heartbeat, this.link.codec.encode(this.heartbeat(bye)));
  }

  /** Asks who is there; the answers come to this process's inbox (`.h`). Carries our own heartbeat. */
  ask(): void {
    this.link.publish(this.subjects.query, this.link.codec.encode(this.heartbeat()), this.subjects.queryAnswers(this.link.self));
  }

  /** Asks, then waits until the answers stop coming, at most `maxMs`. */
  async discover(flush: () => Promise<void>, maxMs: number): Promise<void> {
    this.ask();
    await flush();
    const since = performance.now();
    for (let seen = -1; seen !== this.heard && performance.now() - since < maxMs; ) {
      seen = this.heard;
      await new Promise((resolve) => setTimeout(resolve, DISCOVERY_QUIET_MS));
    }
  }

  onHeartbeat(data: Uint8Array, subject: string): void {
    const heartbeat = decodeMessage(this.link, data, subject, parseHeartbeat);
    if (!heartbeat) return;
    this.heard++;
    this.take(heartbeat, subject);
  }

  /** A process asks who is there: it sent its own heartbeat; ours goes back to it. */
  onQuery(data: Uint8Array, subject: string, reply: string | undefined): void {
    const heartbeat = decodeMessage(this.link, data, subject, parseHeartbeat);
    if (!heartbeat || heartbeat.from === this.link.self) return;
    this.take(heartbeat, subject);
    if (reply) this.link.publish(reply, this.link.codec.encode(this.heartbeat()));
  }

  private take(heartbeat: HeartbeatMessage, subject: string): void {
    if (!this.membership.heartbeat(heartbeat, performance.now())) this.link.refuse(subject, tooManyPeers(MAX_PEERS));
  }

  private heartbeat(bye?: boolean): HeartbeatMessage {
    return heartbeatMessage(this.link.self, this.hosted(), bye);
  }
}
