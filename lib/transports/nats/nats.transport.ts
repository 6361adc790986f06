import { Logger } from '@nestjs/common';
import { PermissionViolationError, nuid, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { AnswerStore, ANSWER_RETENTION } from './answers';
import { connectFirst } from './connect-first';
import { Lease } from './lease';
import { ServingShutdownError, ServingUnavailableError } from '../../core/errors';
import type { RunningServing } from '../../core/running-serving';
import type { ServingTransport } from '../transport';
import { Caller } from './caller';
import type { Codec } from './codec';
import { FleetRateLimits } from './fleet-rate-limit';
import { Membership } from './membership';
import { Member } from './member';
import * as messages from './nats.messages';
import type { ResolvedNatsOptions, TransportLogger } from './options';
import { Presence } from './presence';
import { Subjects } from './protocol';
import { NatsRemoteServing, type CarrierHost } from './remote-serving';
import { RefusalLog } from './refusal-log';
import { Signer } from './signing';
import type { Link } from './wire';

/** NATS's own default, used until the server has told its max_payload. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/**
 * The NATS transport: this process's connection, its membership of the groups of the servings it
 * hosts, the member side (serving other processes) and the caller side (dispatching to them).
 * Created by `natsTransport()`; BatchServingModule drives it through the ServingTransport seam.
 */
export class NatsTransport implements ServingTransport, Link, CarrierHost {
  /** This process's id on NATS: the last token of its subjects. */
  readonly self: string = nuid.next();
  readonly codec: Codec;
  readonly membership: Membership;
  /** `rateLimit` of hosted servings as the fleet's: this member's share, from the membership. */
  private readonly fleetLimits: FleetRateLimits;
  private readonly subjects: Subjects;
  private readonly member: Member;
  private readonly presence: Presence;
  private readonly logger: TransportLogger;
  private readonly refusals: RefusalLog;
  /** Signs what this process sends and checks what it receives; undefined without `key`. */
  private readonly signer: Signer | undefined;
  private readonly remotes = new Map<string, NatsRemoteServing>();
  /** The member's licence to start work for others, renewed by every heartbeat the server confirmed. */
  private readonly lease: Lease;
  private nc: NatsConnection | undefined;
  private callerSide: Caller | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastTick = performance.now();
  private closing: Promise<void> | undefined;
  private readonly closed = new AbortController();

  constructor(private readonly options: ResolvedNatsOptions) {
    this.codec = options.codec;
    this.logger = options.logger ?? new Logger('BatchServing');
    this.refusals = new RefusalLog(this.logger);
    this.signer = options.keys ? new Signer(options.keys, this.self) : undefined;
    this.subjects = new Subjects(options.subjectPrefix);
    this.membership = new Membership(this.self, {
      gone: (id, reason) => {
        this.callerSide?.memberGone(id, reason);
        this.member.callerGone(id);
      },
    });
    this.fleetLimits = new FleetRateLimits(this.membership, options.heartbeatInterval);
    this.lease = Lease.of(options.memberTimeout);
    const answers = new AnswerStore(options.replayBudget, ANSWER_RETENTION * options.memberTimeout);
    this.member = new Member(this, this.subjects, (subject, handler) => this.listen(subject, handler), this.lease, answers, (message) => this.logger.warn(message));
    this.presence = new Presence(this, this.subjects, this.membership, () => this.member.announce());
  }

  /** Connects, joins the fleet, and learns the members already running (briefly waiting for their answers). */
  async start(): Promise<void> {
    if (this.closing) throw new ServingShutdownError(messages.transportClosed());
    if (this.nc) return;
    const connecting = performance.now();
    const nc = await connectFirst({ name: `batch-serving ${this.self}`, ...this.options.connection }, this.options.waitForServer);
    this.nc = nc;
    // Nobody can have taken this process for dead before it existed on the fleet.
    this.lease.renew(connecting);
    this.callerSide = new Caller(this, this.subjects, this.membership, this.options.memberTimeout, this.options.heartbeatInterval);
    this.listen(this.subjects.heartbeat, (data, subject) => this.presence.onHeartbeat(data, subject));
    this.listen(this.subjects.query, (data, subject, msg) => this.presence.onQuery(data, subject, msg.reply));
    this.listen(this.subjects.inboxAll(this.self), (data, subject, msg) => this.onInbox(data, subject, msg));
    void this.watch(nc);
    this.timer = setInterval(() => this.tick(), this.options.heartbeatInterval);
    this.timer.unref();
    this.logger.log(messages.connected(this.self, nc.getServer()));
    await this.presence.discover(() => this.settled(nc.flush()), this.options.memberTimeout);
  }

  /** Serves `serving` to the fleet: listens on its subject, then announces it (so no one sends before we listen). */
  async host(serving: RunningServing): Promise<void> {
    const nc = this.connection();
    this.member.host(serving);
    const { weight, partitions, batchSize } = serving.options;
    this.membership.hostHere(serving.name, weight * partitions, batchSize);
    this.fleetLimits.host(serving, performance.now());
    await this.beat(nc);
  }

  /** Leaves the group of `name`; requests that arrive from now on get "no responders" and go to other members. */
  async unhost(name: string): Promise<void> {
    if (!this.member.isHosted(name)) return;
    this.membership.unhostHere(name);
    this.fleetLimits.unhost(name);
    this.presence.beat();
    await this.settled(this.member.unhost(name));
  }

  /** Serving `name` as hosted by other members; each dispatch goes to the member whose turn it is. */
  remote(name: string): NatsRemoteServing {
    let remote = this.remotes.get(name);
    if (!remote) this.remotes.set(name, (remote = new NatsRemoteServing(name, this)));
    return remote;
  }

  /** For `{ distributed: true }`: the member whose turn it is among all members, by shares; undefined when it is this process's turn. */
  turn(name: string): NatsRemoteServing | undefined {
    const member = this.membership.pick(name, undefined, true);
    if (member === undefined || member === this.self) return undefined;
    return new NatsRemoteServing(name, this, member);
  }

  /** The running serving `name` of this process, if it hosts it on NATS. */
  local(name: string): RunningServing | undefined {
    return this.member.local(name);
  }

  /** Members of serving `name` and their shares (weight × partitions), this process included when it hosts it. */
  members(name: string): Array<{ member: string; shares: number }> {
    return this.membership.members(name);
  }

  /** Fails what still waits for another process, sends the answers that are ready, says goodbye, disconnects. */
  close(): Promise<void> {
    this.closed.abort(new ServingShutdownError(messages.transportClosing()));
    this.closing ??= this.shutdown();
    return this.closing;
  }

  get stopping(): AbortSignal {
    return this.closed.signal;
  }

  // ---- CarrierHost and Link ----------------------------------------------------------------

  caller(name: string): Caller {
    if (this.closing) throw new ServingShutdownError(messages.closed(name));
    if (!this.callerSide) throw new ServingUnavailableError(messages.notStarted(name));
    return this.callerSide;
  }

  publish(subject: string, data: Uint8Array, reply?: string): boolean {
    try {
      this.connection().publish(subject, this.signer ? this.signer.seal(subject, data) : data, reply ? { reply } : undefined);
      return true;
    } catch (error) {
      this.logger.warn(messages.sendFailed(subject, error));
      return false;
    }
  }

  /** What the codec's bytes may take of the server's max_payload: a signature takes the rest. */
  maxPayload(): number {
    return (this.nc?.info?.max_payload ?? DEFAULT_MAX_PAYLOAD) - (this.signer?.overhead ?? 0);
  }

  open(subject: string, data: Uint8Array): { payload: Uint8Array; signer?: string } | string {
    return this.signer ? this.signer.open(subject, data) : { payload: data };
  }

  refuse(subject: string, reason: string): void {
    this.refusals.refuse(subject, reason);
  }

  // ---- internals ---------------------------------------------------------------------------

  private connection(): NatsConnection {
    if (!this.nc) throw new ServingUnavailableError(messages.transportNotStarted());
    return this.nc;
  }

  /** Subscribes with a callback that never throws into the client: a failing handler is logged. */
  private listen(subject: string, handler: (data: Uint8Array, subject: string, msg: Msg) => void): () => Promise<void> {
    const subscription = this.connection().subscribe(subject, {
      callback: (error, msg) => {
        if (error) return this.logger.warn(messages.connectionError(error));
        try {
          handler(msg.data, msg.subject, msg);
        } catch (failure) {
          this.logger.error(messages.handlerFailed(msg.subject, failure));
        }
      },
    });
    return () => subscription.drain();
  }

  private onInbox(data: Uint8Array, subject: string, msg: Msg): void {
    const kind = this.subjects.inboxKind(this.self, subject);
    if (kind === 'replies') return this.callerSide?.onReply(data, subject);
    if (kind === 'control') return this.member.onControl(data, subject);
    if (kind === 'query') return this.presence.onHeartbeat(data, subject);
    // The reply subject of a request message: the server says nobody listens on its subject.
    if (typeof kind === 'object' && msg.headers?.code === 503 && data.length === 0) return this.callerSide?.onNoResponders(kind.seq);
    this.refuse(subject, 'not a subject of this protocol');
  }

  /** A heartbeat; once the server confirms it (a flush), the lease runs from when it was sent. */
  private beat(nc: NatsConnection): Promise<void> {
    const sentAt = performance.now();
    this.presence.beat();
    return nc.flush().then(
      () => this.lease.renew(sentAt),
      () => undefined,
    );
  }

  private tick(): void {
    const now = performance.now();
    // This process itself stalled (a large message to copy, a long synchronous task, a GC pause):
    // the others' heartbeats wait unread in the socket, so no one is judged silent on this tick.
    const stalled = now - this.lastTick > 2 * this.options.heartbeatInterval;
    this.lastTick = now;
    // Before the heartbeat renews the lease: a member that wakes from a stall fails what it held first.
    this.member.checkLease(now);
    this.member.pruneAnswers(now);
    if (this.nc && !this.nc.isClosed()) void this.beat(this.nc);
    if (!stalled) {
      this.membership.sweep(now, this.options.memberTimeout);
      this.fleetLimits.update(now);
      this.callerSide?.tick(now);
    }
    this.refusals.tick();
    this.signer?.sweep();
  }

  /** Connection events: logged; after a reconnection the fleet is asked again who is there. */
  private async watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') {
        this.logger.warn(messages.disconnected(status.server));
        this.callerSide?.disconnected();
      } else if (status.type === 'reconnect') {
        this.logger.log(messages.reconnected(status.server));
        this.presence.ask();
        // Whatever was on its way through the old connection may be lost: ask again, send again.
        this.callerSide?.auditAll();
        this.member.resendUnacknowledged();
      } else if (status.type === 'error') this.onServerError(status.error);
    }
  }

  /** A permission denial fails at once the dispatches it stopped, with the server's reason; any error is logged. */
  private onServerError(error: Error): void {
    this.logger.warn(messages.connectionError(error));
    if (error instanceof PermissionViolationError && error.operation === 'publish') this.callerSide?.denied(error.subject, error.message);
  }

  private async shutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.refusals.flush();
    this.callerSide?.close();
    const nc = this.nc;
    if (!nc || nc.isClosed()) return;
    this.member.flush();
    this.presence.beat(true);
    // drain() sends what is buffered, then closes; bounded, since it cannot while the server is away.
    await this.settled(nc.drain());
    if (!nc.isClosed()) await nc.close().catch(() => undefined);
  }

  /** Waits for `promise` at most memberTimeout, and never rejects. */
  private async settled(promise: Promise<unknown> | undefined): Promise<void> {
    if (!promise) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.memberTimeout)));
    await Promise.race([promise.catch(() => undefined), timeout]);
    clearTimeout(timer);
  }
}
