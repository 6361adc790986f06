import { BatchExecutionError, type BatchServingError, errorFromCode } from '../../core/errors';
import { keepShape, noop } from '../../core/shapes';
import type { RequestEntry } from './protocol';

/** Where the answer of a remote dispatch goes. */
export interface CallSink {
  /** The results, one per input (a stream: when it completed, with none). */
  resolve(results: unknown[]): void;
  reject(error: BatchServingError): void;
  hook?(hook: string, payload: unknown): void;
  part?(offset: number, outputs: unknown[]): void;
}

export interface CallOptions {
  timeout?: number;
  signal?: AbortSignal;
  context?: unknown;
  priority?: number;
  stream?: boolean;
  /** The member for the first try, when the route already chose one. */
  first?: string;
}

/** One dispatch sent to another process, from the first try to its answer. */
export class RemoteCall {
  settled = false;
  member = '';
  /** The request message that carried it last; 0 while it waits to be sent. */
  seq = 0;
  tries = 0;
  tried: string[] | undefined;
  /** Since when every member tried answered "no responders" (a failover): its next try waits for a member to announce itself, for at most memberTimeout. */
  unheardSince: number | undefined = undefined;
  deadlineAt = Infinity;
  /**
   * Last time anything was heard of it; an audit asks about it after memberTimeout of silence.
   * Times start as NaN, not 0 (shapes.ts).
   */
  heardAt = NaN;
  /** When its request message left this process, last. */
  sentAt = NaN;
  /** When it was last audited; NaN since it was last heard of. */
  auditedAt = NaN;
  /** Audits sent since it was last heard of. */
  audits = 0;
  /** Batch events of a stream received so far. */
  parts = 0;
  onAbort: (() => void) | undefined;

  constructor(
    readonly id: number,
    readonly name: string,
    readonly inputs: unknown[],
    readonly sink: CallSink,
    readonly options: CallOptions,
  ) {}
}

// Kept so that full collections keep the compiled code of remote dispatches (shapes.ts).
keepShape(new RemoteCall(0, '', [], { resolve: noop, reject: noop }, {}));

/** The entry of a request message that carries `call`. */
export function entryOf(call: RemoteCall): RequestEntry {
  const entry: RequestEntry = { i: call.id, in: call.inputs };
  if (call.options.stream) entry.s = 1;
  // Time left rather than a date: the two machines' clocks need not agree. Measured now, as the
  // message leaves: the member counts it from when the message arrives.
  // One millisecond less for the trip, so the member's deadline does not fall after the caller's.
  if (call.deadlineAt !== Infinity) entry.t = Math.max(1, Math.floor(call.deadlineAt - performance.now()) - 1);
  if (call.options.context !== undefined) entry.c = call.options.context;
  if (call.options.priority) entry.p = call.options.priority;
  return entry;
}

/** The error a member sent, with its class; a code this version does not know stays a BatchExecutionError. */
export function rebuild(code: string, message: string): BatchServingError {
  return errorFromCode(code, message) ?? new BatchExecutionError(message);
}
