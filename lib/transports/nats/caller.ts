import {
  BatchExecutionError,
  type BatchServingError,
  DispatchAbortedError,
  DispatchTimeoutError,
  InvalidInputError,
  ServingNotFoundError,
  ServingShutdownError,
  ServingUnavailableError,
} from '../../core/errors';
import { dispatchAborted, dispatchTimeout } from '../../core/messages';
import { DeadlineQueue } from '../../core/deadlines';
import type { Membership } from './membership';
import { MAX_ENTRIES, MAX_PEERS, MAX_VALUES } from './bounds';
import * as messages from './nats.messages';
import * as security from './security.messages';
import { DONE, FAILED, HELD, HOOK, LOST, OK, PART, REFUSED, UNKNOWN, controlMessage, isFinal, isReplyItem, parseReply, requestMessage, type ControlKind, type Subjects } from './protocol';
import { RemoteCall, entryOf, rebuild, type CallOptions, type CallSink } from './remote-call';
import { ANSWER_RETENTION } from './answers';
import { Outbox, decodeMessage, encodeFitting, type Link } from './wire';

/** At most this many members are tried for one dispatch, and only while none accepted it. */
export const MAX_TRIES = 3;

/**
 * A member that says it never received a dispatch is believed only this long (in memberTimeouts)
 * after it was sent: within it, the member still remembers anything it received and answered.
 */
const UNKNOWN_TRUSTED = ANSWER_RETENTION - 1;

/** Audits a dispatch may go unanswered (each after memberTimeout) before it fails: one may be lost in a reconnection. */
const MAX_AUDITS = 3;

/**
 * The calling side: sends dispatches to members, coalesced per (serving, member) and event-loop
 * turn, and settles each exactly once from what comes back. A dispatch is sent again, to another
 * member, only when it provably did not run: NATS answered "no responders" for its message, the
 * member refused it before taking its values in, or the member says it never received it (and
 * will now refuse it). An answer lost on the way is asked for again (an audit) and replayed by the
 * member. Anything else that goes wrong after sending (the member dies) fails it with
 * ServingUnavailableError and is never retried. Whenever this side gives up on a dispatch it sent
 * (deadline, abort, member taken for dead), it sends a cancel, so that a member that was only
 * slow never starts it.
 */
export class Caller {
  private nextId = 1;
  private nextSeq = 1;
  private readonly calls = new Map<number, RemoteCall>();
  /** Request messages of the last memberTimeout, by seq: a "no responders" names one of them. */
  private readonly sent = new Map<number, { calls: RemoteCall[]; at: number }>();
  /** Members that said goodbye, and when: what they still hold fails a heartbeat later. */
  private readonly departed = new Map<string, number>();
  private readonly requests: Outbox<RemoteCall>;
  private readonly cancels: Outbox<number>;
  /**
   * Answers received, by member, to acknowledge so that it stops keeping them for replay. They ride
   * on the next request message to that member; what none carried leaves on its own at the next tick.
   */
  private acks = new Map<string, number[]>();
  /** When this process last lost its connection to the server, and last got one back (performance.now()). */
  private lostAt = -Infinity;
  private backAt = -Infinity;
  private readonly deadlines = new DeadlineQueue<RemoteCall>((call, ms) => this.fail(call, new DispatchTimeoutError(dispatchTimeout(call.name, ms))));

  constructor(
    private readonly link: Link,
    private readonly subjects: Subjects,
    private readonly membership: Membership,
    private readonly memberTimeout: number,
    private readonly heartbeatInterval: number,
  ) {
    this.requests = new Outbox((subject, calls) => this.send(subject, calls));
    this.cancels = new Outbox((member, ids) => this.control(member, 'cancel', ids));
  }

  call(name: string, inputs: unknown[], sink: CallSink, options: CallOptions): RemoteCall {
    const call = new RemoteCall(this.nextId++, name, inputs, sink, options);
    const signal = options.signal;
    if (signal?.aborted) {
      call.settled = true;
      sink.reject(new DispatchAbortedError(dispatchAborted(name, signal.reason), { cause: signal.reason }));
      return call;
    }
    this.calls.set(call.id, call);
    if (signal) {
      call.onAbort = () => this.fail(call, new DispatchAbortedError(dispatchAborted(name, signal.reason), { cause: signal.reason }));
      signal.addEventListener('abort', call.onAbort, { once: true });
    }
    if (options.timeout !== undefined) {
      call.deadlineAt = performance.now() + options.timeout;
      this.deadlines.add(call, options.timeout);
    }
    this.route(call, options.first);
    return call;
  }

  /** Drops a dispatch nobody waits for any more (a stream unsubscribed): the member withdraws it. */
  cancel(call: RemoteCall): void {
    if (call.settled) return;
    this.settle(call, true);
  }

  /** Replies from members: results, errors, refusals, stream events, audit answers. */
  onReply(data: Uint8Array, subject: string): void {
    const reply = decodeMessage(this.link, data, subject, parseReply);
    if (!reply) return;
    const now = performance.now();
    for (const item of reply.r) {
      if (!isReplyItem(item)) {
        this.link.refuse(subject, 'a malformed reply item');
        continue;
      }
      // The member keeps final answers for replay until told they arrived, also late or replayed ones.
      if (isFinal(item)) this.acknowledge(reply.from, item[0]);
      const call = this.calls.get(item[0]);
      // Late answers (the call already settled) and answers from a member that does not hold it are dropped.
      if (!call || call.member !== reply.from || call.seq === 0) continue;
      call.heardAt = now;
      call.auditedAt = NaN;
      call.audits = 0;
      switch (item[1]) {
        case OK:
          if (item[2].length === call.inputs.length) this.complete(call, item[2]);
          else this.fail(call, new BatchExecutionError(messages.answerMismatch(call.name, item[2].length, call.inputs.length)), false);
          break;
        case FAILED:
          this.fail(call, rebuild(item[2], item[3]), false);
          break;
        case REFUSED:
          this.retry(call, rebuild(item[2], item[3]));
          break;
        case HOOK:
          call.sink.hook?.(item[2], item[3]);
          break;
        case PART:
          call.parts++;
          call.sink.part?.(item[2], item[3]);
          break;
        case DONE:
          // The end of a stream; a plain dispatch ends with its outputs, never with DONE. Events
          // are not replayed: a stream that missed some fails rather than complete without them.
          if (call.options.stream && call.parts === item[2]) this.complete(call, []);
          else if (call.options.stream) this.fail(call, new ServingUnavailableError(messages.streamEventsLost(call.name, call.member, item[2] - call.parts)), false);
          else this.fail(call, new ServingUnavailableError(messages.lost(call.name, call.member)), false);
          break;
        case LOST:
          this.fail(call, new ServingUnavailableError(messages.lost(call.name, call.member)), false);
          break;
        case UNKNOWN:
          // Never received, and refused should it arrive: nothing ran, so it may go elsewhere. Only
          // while the member surely still remembers what it received; a stream may have shown events.
          if (now - call.sentAt < UNKNOWN_TRUSTED * this.memberTimeout && !call.options.stream) this.retry(call, undefined);
          else this.fail(call, new ServingUnavailableError(messages.lost(call.name, call.member)), false);
          break;
        case HELD:
          break;
      }
    }
  }

  /** NATS found no subscriber for request message `seq`: nobody received it, so it may go elsewhere. */
  onNoResponders(seq: number): void {
    const record = this.sent.get(seq);
    if (!record) return;
    this.sent.delete(seq);
    // Sent while this process was away from its server, or answered while its new server still
    // learns who listens (half a memberTimeout after it came back): it says nothing of the member,
    // and is not counted as one of the tries.
    const blind = record.at >= this.lostAt && (this.lostAt > this.backAt || performance.now() - this.backAt < this.memberTimeout / 2);
    for (const call of record.calls) {
      if (call.settled || call.seq !== seq) continue;
      if (blind) call.tries--;
      else this.membership.forget(call.name, call.member);
      this.retry(call, undefined);
    }
  }

  /** This process lost its connection to the server (it reconnects; see `auditAll`). */
  disconnected(): void {
    this.lostAt = performance.now();
  }

  /**
   * Process `member` died or left: what it held fails, and later dispatches go to the others. A
   * member that left answered everything it accepted before saying goodbye (one connection, in
   * order), so what it still holds was either never received, and NATS is about to say "no
   * responders" (the dispatch then goes elsewhere), or lost: those fail a heartbeat later.
   */
  memberGone(member: string, reason: 'left' | 'silent'): void {
    if (reason === 'left') {
      // Bounded: goodbyes in the names of invented processes must not grow the table (MAX_PEERS).
      if (this.departed.size < MAX_PEERS) this.departed.set(member, performance.now());
      return;
    }
    for (const call of this.calls.values()) {
      if (call.member === member && call.seq !== 0) this.fail(call, new ServingUnavailableError(messages.memberGone(call.name, member, this.memberTimeout)));
    }
  }

  /**
   * The server refused to pass on a message this process published to `subject` (permissions):
   * the dispatches sent there fail now, with the server's reason, rather than an audit later. The
   * server refused them, so no member received them.
   */
  denied(subject: string, reason: string): void {
    for (const call of this.calls.values()) {
      if (call.seq !== 0 && this.subjects.serve(call.name, call.member) === subject) {
        this.fail(call, new ServingUnavailableError(messages.denied(call.name, subject, reason)), false);
      }
    }
  }

  /**
   * This process reconnected: answers may have been lost with the old connection, so every
   * dispatch in flight is audited now rather than after memberTimeout of silence. The member
   * answers HELD, replays the answer it kept, or says it never received the dispatch.
   */
  auditAll(): void {
    const now = performance.now();
    this.backAt = now;
    const audits = new Map<string, number[]>();
    for (const call of this.calls.values()) if (call.seq !== 0) this.audit(call, now, audits);
    for (const [member, ids] of audits) this.control(member, 'audit', ids);
  }

  /**
   * Once per heartbeat: forgets old "no responders" bookkeeping and audits dispatches not heard of
   * for memberTimeout. The member answers after any answer it already sent (one outbox, in order):
   * HELD, the answer again, UNKNOWN (never received) or LOST (its answer is gone for good). An
   * audit is asked again after memberTimeout without an answer (it may have been lost too), and
   * MAX_AUDITS unanswered ones fail the dispatch. Nothing waits forever.
   */
  tick(now: number): void {
    for (const [member, at] of this.departed) {
      if (now - at < this.heartbeatInterval) continue;
      this.departed.delete(member);
      for (const call of this.calls.values()) {
        if (call.seq !== 0 && call.member === member) this.fail(call, new ServingUnavailableError(messages.memberLeft(call.name, member)));
      }
    }
    for (const [seq, record] of this.sent) {
      if (now - record.at < this.memberTimeout) break;
      this.sent.delete(seq);
    }
    this.sendAcks();
    const audits = new Map<string, number[]>();
    for (const call of this.calls.values()) {
      if (call.seq === 0 || now - call.heardAt < this.memberTimeout) continue;
      // Never audited since last heard of (NaN): the comparison is false.
      if (now - call.auditedAt < this.memberTimeout) continue;
      if (call.audits >= MAX_AUDITS) {
        this.fail(call, new ServingUnavailableError(messages.unanswered(call.name, call.member, Math.round(now - call.heardAt))));
        continue;
      }
      this.audit(call, now, audits);
    }
    for (const [member, ids] of audits) this.control(member, 'audit', ids);
  }

  private audit(call: RemoteCall, now: number, audits: Map<string, number[]>): void {
    call.auditedAt = now;
    call.audits++;
    const ids = audits.get(call.member);
    if (ids) ids.push(call.id);
    else audits.set(call.member, [call.id]);
  }

  /** The transport closes: every dispatch still waiting fails. */
  close(): void {
    for (const call of [...this.calls.values()]) this.fail(call, new ServingShutdownError(messages.closed(call.name)));
    this.sent.clear();
    this.deadlines.clear();
    this.cancels.flush();
    this.sendAcks();
  }

  private acknowledge(member: string, id: number): void {
    const ids = this.acks.get(member);
    if (ids) ids.push(id);
    else this.acks.set(member, [id]);
  }

  /** Acknowledgements that no request message carried, each member's in one message. */
  private sendAcks(): void {
    const acks = this.acks;
    this.acks = new Map();
    for (const [member, ids] of acks) this.control(member, 'ack', ids);
  }

  private route(call: RemoteCall, member: string | undefined, refusal?: BatchServingError): void {
    member ??= this.membership.pick(call.name, call.tried, false);
    if (!member) return this.fail(call, refusal ?? this.nobody(call));
    call.member = member;
    call.seq = 0;
    call.tries++;
    (call.tried ??= []).push(member);
    this.requests.push(this.subjects.serve(call.name, member), call);
  }

  private retry(call: RemoteCall, refusal: BatchServingError | undefined): void {
    if (refusal) {
      if (call.tries >= MAX_TRIES) return this.fail(call, refusal);
      return this.route(call, undefined, refusal);
    }
    // "No responders": nobody received it, so it may go again, anywhere, within MAX_TRIES.
    if (call.tries >= MAX_TRIES) return this.fail(call, new ServingUnavailableError(messages.noneAccepted(call.name, call.tries)));
    // Every member tried answered "no responders", with tries left: what a failover gives while
    // subscriptions move between the servers of a cluster (about half a second here). The next try
    // waits half a memberTimeout, then until a member has announced itself again (the "no
    // responders" took them out of the group; one that is gone does not come back), checked each
    // heartbeat, for at most memberTimeout.
    const now = performance.now();
    const waited = call.unheardSince === undefined ? 0 : now - call.unheardSince;
    const member = call.unheardSince === undefined || waited >= this.memberTimeout / 2 ? this.membership.pick(call.name, call.tried, false) : undefined;
    if (member !== undefined) return this.route(call, member);
    call.unheardSince ??= now;
    if (waited >= this.memberTimeout) return this.fail(call, new ServingUnavailableError(messages.noneAccepted(call.name, call.tries)));
    call.tried = undefined;
    const again = setTimeout(() => {
      if (!call.settled) this.retry(call, undefined);
    }, this.heartbeatInterval);
    again.unref();
  }

  private nobody(call: RemoteCall): BatchServingError {
    if (call.tries > 0) return new ServingUnavailableError(messages.noneAccepted(call.name, call.tries));
    if (this.membership.wasSeen(call.name)) return new ServingUnavailableError(messages.unreachable(call.name));
    return new ServingNotFoundError(messages.noMember(call.name, this.membership.names()));
  }

  /** One request message (or a few, to stay under max_payload) for the dispatches of one turn to one member. */
  private send(subject: string, queued: RemoteCall[]): void {
    const calls = queued.filter((call) => !call.settled);
    if (calls.length === 0) return;
    // Members admit at most MAX_ENTRIES dispatches from one message: a burst leaves as several.
    for (let from = 0; from < calls.length; from += MAX_ENTRIES) this.sendFitting(subject, calls.slice(from, from + MAX_ENTRIES));
  }

  private sendFitting(subject: string, calls: RemoteCall[]): void {
    const max = this.link.maxPayload();
    // Acknowledgements to this member ride along (with every part, should the message be split).
    const acks = this.acks.get(calls[0].member);
    this.acks.delete(calls[0].member);
    encodeFitting(
      this.link.codec,
      max,
      calls,
      (chunk) => requestMessage(this.link.self, this.nextSeq, chunk.map(entryOf), acks),
      (chunk, data) => {
        const seq = this.nextSeq++;
        const now = performance.now();
        for (const call of chunk) {
          call.seq = seq;
          call.heardAt = now;
          call.sentAt = now;
        }
        this.sent.set(seq, { calls: chunk, at: now });
        if (!this.link.publish(subject, data, this.subjects.requestReply(this.link.self, seq))) {
          for (const call of chunk) this.fail(call, new ServingUnavailableError(messages.notSent(call.name)), false);
        }
      },
      (call, bytes, values) => {
        this.fail(call, new InvalidInputError(values === undefined ? messages.inputTooLarge(call.name, bytes, max) : security.inputTooManyValues(call.name, MAX_VALUES)));
        return undefined;
      },
      (call, error) => {
        this.fail(call, new InvalidInputError(messages.inputNotEncodable(call.name, error), { cause: error }));
        return undefined;
      },
    );
  }

  private control(member: string, k: ControlKind, ids: number[]): void {
    this.link.publish(this.subjects.control(member), this.link.codec.encode(controlMessage(this.link.self, k, ids)));
  }

  private complete(call: RemoteCall, results: unknown[]): void {
    if (call.settled) return;
    this.settle(call);
    call.sink.resolve(results);
  }

  /** `cancel`: this side gives up on the dispatch (rather than the member answering it), so the member must not start it. */
  private fail(call: RemoteCall, error: BatchServingError, cancel = true): void {
    if (call.settled) return;
    this.settle(call, cancel);
    call.sink.reject(error);
  }

  private settle(call: RemoteCall, cancel = false): void {
    call.settled = true;
    this.calls.delete(call.id);
    if (call.onAbort) call.options.signal!.removeEventListener('abort', call.onAbort);
    if (cancel && call.seq !== 0) this.cancels.push(call.member, call.id);
  }
}
