/*
 * The wire protocol, version 1: subjects, message shapes, and the checks every received message
 * passes before anything acts on it. A message that fails them is refused (logged, dropped):
 * nothing received from the network is trusted to have the right shape.
 *
 * Subjects (`<p>` is `subjectPrefix`, `<name>` a serving name as one subject token, `<id>` a process):
 *   <p>.hb                   heartbeats of every process: the servings it hosts, with their shares
 *   <p>.hb.query             "who is there?": every process answers with its heartbeat
 *   <p>.serve.<name>.<id>    requests for serving <name> to process <id>
 *   <p>.in.<id>.r            replies to process <id>: results, errors, refusals, stream events
 *   <p>.in.<id>.c            control to process <id>: cancels, audits and acknowledgements
 *   <p>.in.<id>.<seq>        reply subject of request message <seq>: where NATS says "no responders"
 *   <p>.in.<id>.h            answers to the query of process <id>
 */

import { MAX_ENTRIES, MAX_NAME_LENGTH, MAX_SERVINGS_PER_PROCESS } from './bounds';

export const PROTOCOL_VERSION = 1;

/** One dispatch inside a request message. */
export interface RequestEntry {
  /** Id of the dispatch, unique within the sending process. */
  i: number;
  /** The caller's inputs; the member applies validate / mapInputs / mapResults. */
  in: unknown[];
  /** Set for a stream(): the member sends hook and batch events, then DONE. */
  s?: 1;
  /** Sent by earlier versions (the caller has a signal); ignored: every entry can be withdrawn now. */
  a?: 1;
  /** Time left (ms) before the dispatch's deadline, measured when the message left the caller. */
  t?: number;
  /** The dispatch's `context`, for `ctx.callers`. */
  c?: unknown;
  /** The dispatch's `priority`, when not 0. */
  p?: number;
}

export interface RequestMessage {
  v: 1;
  k: 'req';
  from: string;
  seq: number;
  e: RequestEntry[];
  /** Ids of answers from this member that the caller received (as an `ack` control message does). */
  ack?: number[];
}

/** Kinds of reply items: `[id, kind, ...]`. */
export const OK = 0; //        [id, OK, results]          the dispatch's results, one per input
export const FAILED = 1; //    [id, FAILED, code, message] a final error
export const REFUSED = 2; //   [id, REFUSED, code, message] not accepted (busy, shutting down): retry elsewhere
export const HOOK = 3; //      [id, HOOK, hook, payload]   a stream's hook event
export const PART = 4; //      [id, PART, offset, outputs] a stream's batch event
export const DONE = 5; //      [id, DONE, parts]           a stream completed, after `parts` PART items
export const HELD = 6; //      [id, HELD]                  audit answer: still being worked on
export const LOST = 7; //      [id, LOST]                  audit answer: it was received, but its answer is gone
export const UNKNOWN = 8; //   [id, UNKNOWN]               audit answer: never received, and now refused should it arrive

export type ReplyItem =
  | [number, typeof OK, unknown[]]
  | [number, typeof FAILED | typeof REFUSED, string, string]
  | [number, typeof HOOK, string, unknown]
  | [number, typeof PART, number, unknown[]]
  | [number, typeof DONE, number]
  | [number, typeof HELD | typeof LOST | typeof UNKNOWN];

export interface ReplyMessage {
  v: 1;
  k: 'res';
  from: string;
  r: ReplyItem[];
}

/**
 * Control from a caller to a member: `cancel` (the caller gave up: withdraw, answer nothing),
 * `audit` (is it still held? an answer already sent is replayed), `ack` (answers received: the
 * member may forget its copies).
 */
export interface ControlMessage {
  v: 1;
  k: ControlKind;
  from: string;
  ids: number[];
}

export type ControlKind = 'cancel' | 'audit' | 'ack';
const CONTROL_KINDS: readonly ControlKind[] = ['cancel', 'audit', 'ack'];

export interface HeartbeatMessage {
  v: 1;
  k: 'hb';
  from: string;
  /** Hosted servings: `[name, shares (weight × partitions), batchSize]`. */
  s: Array<[string, number, number]>;
  /** The process is leaving: forget it now rather than after memberTimeout. */
  bye?: 1;
}

// ---- building messages: the only place where their shape is written ---------------------------

export function requestMessage(from: string, seq: number, e: RequestEntry[], ack?: number[]): RequestMessage {
  const message: RequestMessage = { v: PROTOCOL_VERSION, k: 'req', from, seq, e };
  if (ack) message.ack = ack;
  return message;
}
export const replyMessage = (from: string, r: ReplyItem[]): ReplyMessage => ({ v: PROTOCOL_VERSION, k: 'res', from, r });
export const controlMessage = (from: string, k: ControlKind, ids: number[]): ControlMessage => ({ v: PROTOCOL_VERSION, k, from, ids });

export function heartbeatMessage(from: string, s: HeartbeatMessage['s'], bye?: boolean): HeartbeatMessage {
  const message: HeartbeatMessage = { v: PROTOCOL_VERSION, k: 'hb', from, s };
  if (bye) message.bye = 1;
  return message;
}

/** Subject names of one fleet (one `subjectPrefix`). */
export class Subjects {
  readonly heartbeat: string;
  readonly query: string;

  constructor(readonly prefix: string) {
    this.heartbeat = `${prefix}.hb`;
    this.query = `${prefix}.hb.query`;
  }

  serve(name: string, member: string): string {
    return `${this.prefix}.serve.${nameToken(name)}.${member}`;
  }

  inbox(member: string): string {
    return `${this.prefix}.in.${member}`;
  }

  /** Every subject of process `id`'s inbox, for its one subscription. */
  inboxAll(id: string): string {
    return `${this.inbox(id)}.>`;
  }

  /**
   * What a subject of process `id`'s inbox is for: replies, control, query answers, or the reply
   * subject of request message `seq` (where NATS says "no responders"); undefined for anything else.
   */
  inboxKind(id: string, subject: string): 'replies' | 'control' | 'query' | { seq: number } | undefined {
    const token = subject.slice(this.inbox(id).length + 1);
    if (token === 'r') return 'replies';
    if (token === 'c') return 'control';
    if (token === 'h') return 'query';
    return /^\d{1,15}$/.test(token) ? { seq: Number(token) } : undefined;
  }

  /** Where replies to process `id` go. */
  replies(id: string): string {
    return `${this.inbox(id)}.r`;
  }

  /** Where control for process `id` goes. */
  control(id: string): string {
    return `${this.inbox(id)}.c`;
  }

  /** Where answers to the query of process `id` go. */
  queryAnswers(id: string): string {
    return `${this.inbox(id)}.h`;
  }

  /** The reply subject of request message `seq` of process `id`: where NATS says "no responders". */
  requestReply(id: string, seq: number): string {
    return `${this.inbox(id)}.${seq}`;
  }
}

/**
 * A serving name as one subject token: letters, digits, `_` and `-` stay, anything else (dots and
 * wildcards included) becomes `~` and its UTF-8 bytes in hex, so no name can reach another's subject.
 */
export function nameToken(name: string): string {
  if (/^[A-Za-z0-9_-]+$/.test(name)) return name;
  let token = '';
  for (const ch of name) {
    if (/[A-Za-z0-9_-]/.test(ch)) token += ch;
    else for (const byte of Buffer.from(ch)) token += `~${byte.toString(16).padStart(2, '0')}`;
  }
  return token || '~';
}

const ID = /^[A-Za-z0-9]{1,64}$/;
export const isId = (value: unknown): value is string => typeof value === 'string' && ID.test(value);
const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 0;
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The envelope checks shared by every kind: returns the reason to refuse, or undefined. */
function envelope(m: unknown, kinds: readonly string[]): string | undefined {
  if (!isObject(m)) return 'not an object';
  if (m.v !== PROTOCOL_VERSION) return `protocol version ${String(m.v)} (this process speaks ${PROTOCOL_VERSION})`;
  if (typeof m.k !== 'string' || !kinds.includes(m.k)) return `unexpected kind ${JSON.stringify(m.k)}`;
  if (!isId(m.from)) return 'no valid sender id';
  return undefined;
}

/**
 * The request, or why it is refused. Only the envelope is checked here: each entry is checked
 * alone (`entryProblem`), so that one bad entry never takes its neighbours down with it.
 */
export function parseRequest(m: unknown): RequestMessage | string {
  const bad = envelope(m, ['req']);
  if (bad) return bad;
  const r = m as Record<string, unknown>;
  if (!isCount(r.seq)) return 'no valid seq';
  if (!Array.isArray(r.e)) return 'no entries';
  if (r.e.length > MAX_ENTRIES) return `more than ${MAX_ENTRIES} entries in one message`;
  if (r.ack !== undefined && !(Array.isArray(r.ack) && r.ack.every(isCount))) return 'no valid acknowledgements';
  return m as RequestMessage;
}

/**
 * Why one entry cannot be taken in, or undefined. Its dispatch options (`t`, `p`) are not checked
 * here: the member hands them to the serving, which checks them as it checks a local dispatch's.
 */
export function entryProblem(e: unknown): string | undefined {
  if (entryId(e) === undefined) return 'an entry without a valid id';
  const entry = e as Record<string, unknown>;
  if (!Array.isArray(entry.in)) return 'an entry without inputs';
  if ((entry.s !== undefined && entry.s !== 1) || (entry.a !== undefined && entry.a !== 1)) return 'an entry with a bad flag';
  return undefined;
}

/** The id of an entry, when it has a valid one: what an answer to a bad entry is addressed to. */
export function entryId(e: unknown): number | undefined {
  return isObject(e) && isCount(e.i) ? e.i : undefined;
}

export function parseReply(m: unknown): ReplyMessage | string {
  const bad = envelope(m, ['res']);
  if (bad) return bad;
  if (!Array.isArray((m as Record<string, unknown>).r)) return 'no items';
  return m as ReplyMessage;
}

/** An answer that ends a dispatch: what a member keeps for replay and a caller acknowledges. */
export const isFinal = (item: ReplyItem): boolean => item[1] === OK || item[1] === FAILED || item[1] === DONE;

/** True when a reply item has the shape its kind requires. */
export function isReplyItem(item: unknown): item is ReplyItem {
  if (!Array.isArray(item) || !isCount(item[0])) return false;
  switch (item[1]) {
    case OK:
      return item.length === 3 && Array.isArray(item[2]);
    case FAILED:
    case REFUSED:
      return item.length === 4 && typeof item[2] === 'string' && typeof item[3] === 'string';
    case HOOK:
      return item.length === 4 && typeof item[2] === 'string';
    case PART:
      return item.length === 4 && isCount(item[2]) && Array.isArray(item[3]);
    case DONE:
      return item.length === 3 && isCount(item[2]);
    case HELD:
    case LOST:
    case UNKNOWN:
      return item.length === 2;
    default:
      return false;
  }
}

export function parseControl(m: unknown): ControlMessage | string {
  const bad = envelope(m, CONTROL_KINDS);
  if (bad) return bad;
  const ids = (m as Record<string, unknown>).ids;
  if (!Array.isArray(ids) || !ids.every(isCount)) return 'no valid ids';
  return m as ControlMessage;
}

export function parseHeartbeat(m: unknown): HeartbeatMessage | string {
  const bad = envelope(m, ['hb']);
  if (bad) return bad;
  const s = (m as Record<string, unknown>).s;
  if (!Array.isArray(s)) return 'no servings';
  if (s.length > MAX_SERVINGS_PER_PROCESS) return `more than ${MAX_SERVINGS_PER_PROCESS} servings`;
  for (const entry of s as unknown[]) {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string' || entry[0].length > MAX_NAME_LENGTH || !(typeof entry[1] === 'number' && entry[1] > 0 && Number.isFinite(entry[1])) || !(isCount(entry[2]) && entry[2] > 0)) {
      return 'a serving without name, shares or batchSize';
    }
  }
  return m as HeartbeatMessage;
}
