import type { TurnStamp } from './clock';
import { NO_STAMP } from './clock';
import type { BatchServingError } from './errors';
import type { Batch, BatchOwner } from './batch';
import type { Run, Slab } from './key-queue';
import type { ServingSpec } from './serving-spec';

export type { Run } from './key-queue';

/** Extra state that most dispatches never need, kept off the common object to keep it small. */
export interface DispatchExtras {
  /** Runs when the values have several batch keys; else the dispatch is its own run. */
  runs?: Run[];
  /** Outputs gathered from several batches, and how many have arrived (a dispatch in one batch needs neither). */
  outputs?: unknown[];
  done?: number;
  /** Running batches whose `signal` was read: they abort when all their callers have gone. */
  watchers?: Batch[];
  /** Each value's cost, with `.cost` only (see CostBudget). */
  costs?: number[];
  signal?: AbortSignal;
  onAbort?: () => void;
  /** `options.context` of a SingleDispatch (other dispatches hold their own). */
  context?: unknown;
  /** A SingleDispatch's serving, when it has mapResults to run on the output. */
  caller?: CallerSide;
}

/** What a dispatch needs of its serving to run mapResults: the spec, and the name for errors. */
export interface CallerSide {
  readonly spec: ServingSpec<unknown, unknown, unknown, unknown>;
  readonly name: string;
}

/**
 * One caller's request as the batcher sees it: its values, where it stands in the queue, and how
 * it settles. The batcher guarantees `complete` or `fail` is called exactly once.
 *
 * Its phases (ARCHITECTURE.md): validated (before `submit`, caller.ts), queued (`isWaiting` of its
 * runs, key-queue.ts), in a batch (taken: no run waits, not settled), settled (`settled`, written
 * only by the batcher's `settle`). A dispatch of one batch key is its own run.
 */
export interface QueuedDispatch<I, O> extends Run<QueuedDispatch<any, any>>, BatchOwner {
  readonly values: I[];
  readonly value: I;
  settled: boolean;
  enqueuedAt: TurnStamp;
  extras: DispatchExtras | undefined;
  /** Outputs are `source[offset … offset + values.length)`. */
  complete(source: O[], offset: number): void;
  fail(error: BatchServingError): void;
  /** A hook event for the part starting at `offset` of this dispatch's values. */
  hook(offset: number, hook: string, payload: unknown): void;
  /** The raw outputs of the part starting at `offset`, as soon as its batch finished. */
  part(offset: number, outputs: O[]): void;
}

/**
 * A base for dispatches off the hot path. Subclasses decide what settling means (resolve a
 * promise, feed a stream, answer a remote caller); the batcher guarantees it happens exactly once.
 */
export abstract class Dispatch<I, O> implements QueuedDispatch<I, O> {
  readonly dispatch: Dispatch<I, O> = this;
  next = 0;
  readonly end: number;
  slab: Slab | undefined = undefined;
  settled = false;
  enqueuedAt: TurnStamp = NO_STAMP;
  extras: DispatchExtras | undefined = undefined;
  readonly value: I;

  constructor(
    readonly values: I[],
    readonly context: unknown,
  ) {
    this.end = values.length;
    this.value = values[0];
  }

  /** True when the dispatch wants hook and part events (a stream). */
  get streams(): boolean {
    return false;
  }

  /** Outputs are `source[offset … offset + values.length)`. Called once, unless `fail` was. */
  abstract complete(source: O[], offset: number): void;

  /** Called once, unless `complete` was. */
  abstract fail(error: BatchServingError): void;

  /** A hook event for the part starting at `offset` of this dispatch's values. */
  hook(_offset: number, _hook: string, _payload: unknown): void {}

  /** The raw outputs of the part starting at `offset`, as soon as its batch finished. */
  part(_offset: number, _outputs: O[]): void {}
}
