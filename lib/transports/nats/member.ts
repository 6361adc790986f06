import { BatchServingError, DispatchAbortedError, ServingUnavailableError } from '../../core/errors';
import { shuttingDown } from '../../core/messages';
import type { RunningServing } from '../../core/running-serving';
import type { DispatchOptions } from '../../core/types';
import { MAX_VALUES } from './bounds';
import type { AnswerStore } from './answers';
import type { Lease } from './lease';
import * as messages from './nats.messages';
import * as security from './security.messages';
import {
  DONE,
  FAILED,
  HELD,
  HOOK,
  LOST,
  OK,
  PART,
  REFUSED,
  UNKNOWN,
  entryId,
  entryProblem,
  isFinal,
  parseControl,
  parseReply,
  parseRequest,
  replyMessage,
  type ReplyItem,
  type RequestEntry,
  type Subjects,
} from './protocol';
import { Outbox, decodeMessage, encodeFitting, type Link } from './wire';

/** A dispatch this process accepted from another one and has not answered yet. */
interface Held {
  /** Fails it now (what has not started never runs): on its caller's cancel, and when the lease lapses. */
  withdraw(error: BatchServingError): void;
  /** The caller cancelled or is gone: nothing more is sent for it. */
  silenced: boolean;
  /** Its values entered the batcher: from then on it is never refused, only answered. */
  accepted: boolean;
}

interface Hosted {
  readonly running: RunningServing;
  /** Stops listening once the messages already on their way have been handled. */
  readonly drain: () => Promise<void>;
}

/** How the member side subscribes (the transport owns the connection); the result drains the subscription. */
export type Listen = (subject: string, handler: (data: Uint8Array, subject: string) => void) => () => Promise<void>;

/**
 * The serving side: requests that other processes send to the servings hosted here. Each entry
 * of a request is fed to the running serving like a local dispatch (validate, mapInputs and
 * mapResults run here, where the serving is defined), so remote values merge with local callers
 * in the same batches. Answers for one process are coalesced per event-loop turn.
 */
export class Member {
  private readonly hosted = new Map<string, Hosted>();
  /** By calling process, then by dispatch id. */
  private readonly held = new Map<string, Map<number, Held>>();
  private readonly replies: Outbox<ReplyItem>;

  constructor(
    private readonly link: Link,
    private readonly subjects: Subjects,
    private readonly listen: Listen,
    private readonly lease: Lease,
    private readonly answers: AnswerStore,
    private readonly warn: (message: string) => void,
  ) {
    this.replies = new Outbox((origin, items) => this.send(origin, items));
  }

  host(running: RunningServing): void {
    const name = running.name;
    void this.hosted.get(name)?.drain();
    // The serving comes from the subscription, never from the message: only hosted servings can be reached.
    const drain = this.listen(this.subjects.serve(name, this.link.self), (data, subject) => this.onRequest(running, data, subject));
    this.hosted.set(name, { running, drain });
    // The last check before a batch starts: local and remote values share batches, and the
    // remote ones must not start once this member cannot vouch that their callers still wait.
    running.batcher.beforeStart = () => this.checkLease(performance.now());
  }

  /**
   * Fails everything held when the lease has lapsed (this process stalled, or could not reach the
   * server): its callers may have taken it for dead, so nothing of theirs may start now. What is
   * queued is withdrawn, never run; what runs fails at once.
   */
  checkLease(now: number): void {
    if (this.lease.holds(now) || this.held.size === 0) return;
    let count = 0;
    const error = new ServingUnavailableError(messages.pastLease(this.link.self, this.lease.overdue(now)));
    for (const mine of [...this.held.values()]) {
      for (const held of [...mine.values()]) {
        count++;
        held.withdraw(error);
      }
    }
    if (now - this.lease.lapsedAt > this.lease.length) this.warn(messages.leaseLapsed(this.lease.overdue(now), count));
    this.lease.lapsedAt = now;
  }

  /** Forgets kept answers and tombstones past their retention. */
  pruneAnswers(now: number): void {
    this.answers.prune(now);
  }

  /** After a reconnection: every answer not acknowledged yet may have been lost, so it goes again. */
  resendUnacknowledged(): void {
    for (const [origin, messages] of this.answers.unacknowledged()) {
      for (const data of messages) for (const item of this.keptAnswers(origin, data)) this.reply(origin, item);
    }
  }

  /**
   * The final answers of a kept reply message that are still kept through it. Its stream events
   * are left out: sent again, they would reach a live stream twice.
   */
  private keptAnswers(origin: string, data: Uint8Array): ReplyItem[] {
    const message = parseReply(this.link.codec.decode(data));
    if (typeof message === 'string') return [];
    return message.r.filter((item) => isFinal(item) && this.answers.recall(origin, item[0]) === data);
  }

  /**
   * Stops listening for `name`. The subscription is drained, not dropped: a request the server
   * delivered before it took the unsubscription in is still handled (accepted, or refused so that
   * the caller tries elsewhere), never lost. What was accepted completes and is answered.
   */
  async unhost(name: string): Promise<void> {
    const hosted = this.hosted.get(name);
    if (!hosted) return;
    this.hosted.delete(name);
    await hosted.drain();
  }

  isHosted(name: string): boolean {
    return this.hosted.has(name);
  }

  local(name: string): RunningServing | undefined {
    return this.hosted.get(name)?.running;
  }

  /** `[name, shares, batchSize]` of every serving hosted here, for the heartbeat. */
  announce(): Array<[string, number, number]> {
    const list: Array<[string, number, number]> = [];
    for (const { running } of this.hosted.values()) {
      const { weight, partitions, batchSize } = running.options;
      list.push([running.name, weight * partitions, batchSize]);
    }
    return list;
  }

  /** A cancel or an audit from a calling process. */
  onControl(data: Uint8Array, subject: string): void {
    const message = decodeMessage(this.link, data, subject, parseControl);
    if (!message) return;
    const origin = message.from;
    const mine = this.held.get(origin);
    if (message.k === 'ack') return this.answers.acknowledge(origin, message.ids);
    if (message.k === 'audit') {
      // Answers ready in this turn are sent (and kept) first: an audit never overtakes an answer.
      this.replies.flush();
      for (const id of message.ids) this.reply(origin, mine?.has(id) ? [id, HELD] : this.recall(origin, id));
      return;
    }
    const now = performance.now();
    for (const id of message.ids) {
      const held = mine?.get(id);
      if (!held) {
        // A cancel that overtook its request: the request, if it comes, must not run.
        if (this.answers.recall(origin, id) === undefined) this.answers.refuse(origin, id, now);
        continue;
      }
      mine!.delete(id);
      held.silenced = true;
      held.withdraw(new DispatchAbortedError(messages.withdrawnByCaller(origin)));
    }
  }

  /** An audit of a dispatch not held: its answer again, or what became of it. */
  private recall(origin: string, id: number): ReplyItem {
    const recollection = this.answers.recall(origin, id);
    if (recollection === 'dropped') return [id, LOST];
    if (recollection === 'refused') return [id, UNKNOWN];
    if (recollection) return this.keptAnswers(origin, recollection).find((item) => item[0] === id) ?? [id, LOST];
    // Never received: say so, and make sure it never runs should it arrive after all.
    this.answers.refuse(origin, id, performance.now());
    return [id, UNKNOWN];
  }

  /**
   * Process `origin` is gone (silent for memberTimeout, or said goodbye): nothing more is sent to
   * it, and everything it had here is withdrawn: what waits never runs, what runs is dropped. Having
   * heard nothing either, it has taken this member for dead and failed those dispatches itself.
   */
  callerGone(origin: string): void {
    const mine = this.held.get(origin);
    if (!mine) return;
    this.held.delete(origin);
    const now = performance.now();
    for (const [id, held] of mine) {
      // Should it come back after all and ask, it hears that the answer is lost, never "not
      // received": that would let it send the dispatch elsewhere, and it may have run here.
      this.answers.lose(origin, id, now);
      held.silenced = true;
      held.withdraw(new DispatchAbortedError(messages.callerGone(origin)));
    }
  }

  /** Sends the answers that are ready (at close). */
  flush(): void {
    this.replies.flush();
  }

  private onRequest(running: RunningServing, data: Uint8Array, subject: string): void {
    const request = decodeMessage(this.link, data, subject, parseRequest);
    if (!request) return;
    if (request.ack) this.answers.acknowledge(request.from, request.ack);
    const now = performance.now();
    for (const entry of request.e) this.accept(request.from, entry, running, subject, now);
  }

  private accept(origin: string, entry: RequestEntry, running: RunningServing, subject: string, now: number): void {
    const problem = entryProblem(entry);
    if (problem) {
      // Refused alone: its neighbours in the message are not its fault.
      const id = entryId(entry);
      if (id === undefined) return this.link.refuse(subject, problem);
      return this.reply(origin, [id, FAILED, 'INVALID_INPUT', messages.badEntry(running.name, problem)]);
    }
    const id = entry.i;
    // Shutting down: refused before anything ran, so the caller may try another member.
    if (running.state !== 'running') return this.reply(origin, [id, REFUSED, 'SERVING_SHUTDOWN', shuttingDown(running.name)]);
    // Past the lease this may be a request that waited out a stall in the socket: its caller may
    // have given up on it. Refused before anything ran: the caller, if it still waits, goes elsewhere.
    if (!this.lease.holds(now)) return this.reply(origin, [id, REFUSED, 'SERVING_UNAVAILABLE', messages.pastLease(this.link.self, this.lease.overdue(now))]);
    const known = this.answers.recall(origin, id);
    if (known === 'refused') return; // cancelled, or said never received: its caller has moved on
    if (known !== undefined) return this.link.refuse(subject, `a second dispatch with id ${id} from process ${origin} after it was answered`);
    let mine = this.held.get(origin);
    if (!mine) this.held.set(origin, (mine = new Map()));
    if (mine.has(id)) return this.link.refuse(subject, `a second dispatch with id ${id} from process ${origin} while the first is running`);
    const held: Held = { withdraw: () => undefined, silenced: false, accepted: false };
    mine.set(id, held);
    // Checked by the serving as a local dispatch's options are: a bad one fails this entry alone.
    const options: DispatchOptions = { timeout: entry.t, context: entry.c, priority: entry.p };
    // A dispatch is never executed inside dispatch(), and a refusal (overloaded) happens inside it:
    // whether the queue grew tells, exactly, whether the values were taken in.
    const before = running.batcher.queued;
    if (entry.s) {
      // A stream is withdrawn through its signal (streams are few; a signal per dispatch is not free).
      const controller = new AbortController();
      options.signal = controller.signal;
      held.withdraw = (error) => controller.abort(error);
      let parts = 0;
      running.stream(entry.in, options).subscribe({
        next: (event) => {
          if (event.type === 'batch') parts++;
          if (!held.silenced) this.reply(origin, event.type === 'hook' ? [id, HOOK, event.hook, event.payload] : [id, PART, event.offset, event.outputs]);
        },
        error: (error: unknown) => this.failed(origin, id, held, error),
        // The count lets the caller tell a complete stream from one whose events were lost on the way.
        complete: () => this.answer(origin, id, held, [id, DONE, parts]),
      });
    } else {
      const dispatch = running.dispatchWithdrawable(entry.in, options);
      held.withdraw = dispatch.withdraw;
      dispatch.promise.then(
        (results) => this.answer(origin, id, held, [id, OK, results]),
        (error: unknown) => this.failed(origin, id, held, error),
      );
    }
    held.accepted = running.batcher.queued !== before;
  }

  private answer(origin: string, id: number, held: Held, item: ReplyItem): void {
    if (this.release(origin, id, held)) this.reply(origin, item);
  }

  private failed(origin: string, id: number, held: Held, error: unknown): void {
    if (!this.release(origin, id, held)) return;
    const code = error instanceof BatchServingError ? error.code : 'BATCH_FAILED';
    const message = error instanceof Error ? error.message : String(error);
    // Overloaded before its values were taken in: nothing ran, so the caller may try another member.
    const kind = code === 'SERVING_OVERLOADED' && !held.accepted ? REFUSED : FAILED;
    this.reply(origin, [id, kind, code, message]);
  }

  /** Forgets a finished dispatch; false when its caller no longer wants an answer. */
  private release(origin: string, id: number, held: Held): boolean {
    const mine = this.held.get(origin);
    if (mine?.get(id) === held) {
      mine.delete(id);
      if (mine.size === 0) this.held.delete(origin);
    }
    return !held.silenced;
  }

  private reply(origin: string, item: ReplyItem): void {
    this.replies.push(origin, item);
  }

  private send(origin: string, items: ReplyItem[]): void {
    const subject = this.subjects.replies(origin);
    const max = this.link.maxPayload();
    encodeFitting(
      this.link.codec,
      max,
      items,
      (r) => replyMessage(this.link.self, r),
      (sent, data) => {
        this.link.publish(subject, data);
        // Final answers are kept until acknowledged: one lost on the way is sent again, not re-run.
        const ids: number[] = [];
        for (const item of sent) if (isFinal(item)) ids.push(item[0]);
        this.answers.keep(origin, ids, data, performance.now());
      },
      (item, bytes, values): ReplyItem => [item[0], FAILED, 'BATCH_FAILED', values === undefined ? messages.answerTooLarge(bytes, max) : security.answerTooManyValues(MAX_VALUES)],
      (item, error): ReplyItem => [item[0], FAILED, 'BATCH_FAILED', messages.answerNotEncodable(error)],
    );
  }
}
