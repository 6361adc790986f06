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
import { DONE, FAILED, HELD, HOOK, LOST, OK, PART, REFUSED, isReplyItem, parseReply, type Subjects } from './protocol';
import { RemoteCall, entryOf, rebuild, type CallOptions, type CallSink } from './remote-call';
import { Outbox, decodeMessage, encodeFitting, type Link } from './wire';

/** At most this many members are tried for one dispatch, and only while none accepted it. */
export const MAX_TRIES = 3;

/**
 * The calling side: sends dispatches to members, coalesced per (serving, member) and event-loop
 * turn, and settles each exactly once from what comes back. A dispatch is sent again, to another
 * member, only when it provably did not run: NATS answered "no responders" for its message, or the
 * member refused it before taking its values in. Anything else that goes wrong after sending (the
 * member dies, its answer is lost) fails it with ServingUnavailableError and is never retried.
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
      call.onAbort = () => {
        const sentTo = call.seq !== 0 ? call.member : undefined;
        this.fail(call, new DispatchAbortedError(dispatchAborted(name, signal.reason), { cause: signal.reason }));
        if (sentTo) this.cancels.push(sentTo, call.id);
      };
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
    this.settle(call);
    if (call.seq !== 0) this.cancels.push(call.member, call.id);
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
      const call = this.calls.get(item[0]);
      // Late answers (the call already settled) and answers from a member that does not hold it are dropped.
      if (!call || call.member !== reply.from || call.seq === 0) continue;
      call.heardAt = now;
      call.auditedAt = 0;
      switch (item[1]) {
        case OK:
          if (item[2].length === call.inputs.length) this.complete(call, item[2]);
          else this.fail(call, new BatchExecutionError(messages.answerMismatch(call.name, item[2].length, call.inputs.length)));
          break;
        case FAILED:
          this.fail(call, rebuild(item[2], item[3]));
          break;
        case REFUSED:
          this.retry(call, rebuild(item[2], item[3]));
          break;
        case HOOK:
          call.sink.hook?.(item[2], item[3]);
          break;
        case PART:
          call.sink.part?.(item[2], item[3]);
          break;
        case DONE:
          // The end of a stream; a plain dispatch ends with its outputs, never with DONE.
          if (call.options.stream) this.complete(call, []);
          else this.fail(call, new ServingUnavailableError(messages.lost(call.name, call.member)));
          break;
        case LOST:
          this.fail(call, new ServingUnavailableError(messages.lost(call.name, call.member)));
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
    for (const call of record.calls) {
      if (call.settled || call.seq !== seq) continue;
      this.membership.forget(call.name, call.member);
      this.retry(call, undefined);
    }
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
   * Once per heartbeat: forgets old "no responders" bookkeeping and audits dispatches not heard of
   * for memberTimeout. The member answers HELD or LOST after any answer it already sent (one
   * outbox, in order), so LOST means the answer is gone for good; no answer to an audit within
   * another memberTimeout fails the dispatch too. Nothing waits forever.
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
    const audits = new Map<string, number[]>();
    for (const call of this.calls.values()) {
      if (call.seq === 0 || now - call.heardAt < this.memberTimeout) continue;
      if (call.auditedAt !== 0) {
        if (now - call.auditedAt >= this.memberTimeout) this.fail(call, new ServingUnavailableError(messages.unanswered(call.name, call.member, Math.round(now - call.heardAt))));
        continue;
      }
      call.auditedAt = now;
      const ids = audits.get(call.member);
      if (ids) ids.push(call.id);
      else audits.set(call.member, [call.id]);
    }
    for (const [member, ids] of audits) this.control(member, 'audit', ids);
  }

  /** The transport closes: every dispatch still waiting fails. */
  close(): void {
    for (const call of [...this.calls.values()]) this.fail(call, new ServingShutdownError(messages.closed(call.name)));
    this.sent.clear();
    this.deadlines.clear();
    this.cancels.flush();
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
    if (call.tries >= MAX_TRIES) return this.fail(call, refusal ?? new ServingUnavailableError(messages.noneAccepted(call.name, call.tries)));
    this.route(call, undefined, refusal);
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
    const inbox = this.subjects.inbox(this.link.self);
    encodeFitting(
      this.link.codec,
      max,
      calls,
      (chunk) => ({ v: 1, k: 'req', from: this.link.self, seq: this.nextSeq, e: chunk.map(entryOf) }),
      (chunk, data) => {
        const seq = this.nextSeq++;
        const now = performance.now();
        for (const call of chunk) {
          call.seq = seq;
          call.heardAt = now;
        }
        this.sent.set(seq, { calls: chunk, at: now });
        if (!this.link.publish(subject, data, `${inbox}.${seq}`)) {
          for (const call of chunk) this.fail(call, new ServingUnavailableError(messages.notSent(call.name)));
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

  private control(member: string, k: 'cancel' | 'audit', ids: number[]): void {
    this.link.publish(`${this.subjects.inbox(member)}.c`, this.link.codec.encode({ v: 1, k, from: this.link.self, ids }));
  }

  private complete(call: RemoteCall, results: unknown[]): void {
    if (call.settled) return;
    this.settle(call);
    call.sink.resolve(results);
  }

  private fail(call: RemoteCall, error: BatchServingError): void {
    if (call.settled) return;
    this.settle(call);
    call.sink.reject(error);
  }

  private settle(call: RemoteCall): void {
    call.settled = true;
    this.calls.delete(call.id);
    if (call.onAbort) call.options.signal!.removeEventListener('abort', call.onAbort);
  }
}
