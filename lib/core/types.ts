/** One dispatch's slice of a batch: `values.slice(offset, offset + size)`, with the `context` it passed. */
export interface BatchCaller {
  readonly offset: number;
  readonly size: number;
  readonly context?: unknown;
}

/** What a hook event carries: one entry per value of the batch, or a function called once per caller. */
export type HookPayload = readonly unknown[] | ((caller: BatchCaller) => unknown);

/** The second argument of a batch function. */
export interface BatchContext {
  /** Which partition runs this batch, `0 … partitions-1`. */
  readonly partition: number;
  /** `'default'` unless the serving has `.batchKey`. */
  readonly batchKey: string;
  /** Number of values in the batch. */
  readonly size: number;
  /** Aborts when every caller of the batch has gone, or at forced shutdown. */
  readonly signal: AbortSignal;
  /** Which slice of `values` belongs to which dispatch. */
  readonly callers: ReadonlyArray<BatchCaller>;
  /** Sends a hook event to the callers that stream; each gets only its own entries. */
  emit(hook: string, payload: HookPayload): void;
}

/** `fn(values, ctx)`: one output per value, in the same order; an `Error` output fails only its caller. */
export type BatchFunction<I, O> = (values: I[], ctx: BatchContext) => O[] | Promise<O[]>;

/** A class or object that serves batches; the optional methods are the builders of `BatchServing`. */
export interface ServingHandler<I, O, In = I, Out = O> {
  handleBatch(values: I[], ctx: BatchContext): O[] | Promise<O[]>;
  mapInputs?(inputs: In[]): I[];
  mapResults?(outputs: O[], inputs: In[]): Out[];
  validate?(input: In): void;
  batchKey?(value: I): string;
}

/** Per-dispatch options. */
export interface DispatchOptions {
  /** Deadline in ms; defaults to the serving's `timeout`. */
  timeout?: number;
  /** Aborting it withdraws the dispatch. */
  signal?: AbortSignal;
  /** Travels with the dispatch into `ctx.callers`. */
  context?: unknown;
  /** Higher runs first: a safe integer, default 0 (section 8 of the API). */
  priority?: number;
  /** Never leave this process (with a transport). */
  local?: boolean;
  /** Pick among all members, this one included (with a transport). */
  distributed?: boolean;
}

/** An event of `stream()`: hook events of a part, then that part's raw outputs. */
export type ServingEvent<O> =
  | { type: 'hook'; hook: string; payload: unknown }
  | { type: 'batch'; offset: number; outputs: O[] };

/** One event per batch start, stop and failure. */
export interface BatchTelemetryEvent {
  type: 'start' | 'stop' | 'failure';
  serving: string;
  partition: number;
  batchKey: string;
  size: number;
  waitMs: number;
  runMs?: number;
  error?: unknown;
}

/** The outcome of `tryDispatch`: never rejects. */
export type DispatchResult<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Inputs of `dispatchMany` and `stream`. */
export type ManyInputs<T> = readonly T[] | Iterable<T> | AsyncIterable<T>;
