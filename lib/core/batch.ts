import type { BatchCaller, BatchContext, HookPayload } from './types';
import type { ClosedBy } from './window';
import { BatchResultLengthError, UnknownHookError } from './errors';
import { hookPayloadLength, unknownHook } from './messages';
import { keepShape } from './shapes';

/** What a batch needs to know of the serving that runs it. */
export interface BatchHost {
  readonly name: string;
  readonly hooks: ReadonlySet<string>;
  /** The batch's `signal` was read: register it with its callers and `track` how many are live. */
  watch(batch: Batch): void;
}

/** What a batch needs of a dispatch that owns a slice of it (a `QueuedDispatch`, dispatch.ts). */
export interface BatchOwner {
  /** The values; a dispatch of one value (`end` 1) may build this on demand and keep `value` instead. */
  readonly values: unknown[];
  /** The first value, `values[0]`: the only one when `end` is 1. */
  readonly value: unknown;
  /** Number of values (the end of the run that is the whole dispatch). */
  readonly end: number;
  readonly context: unknown;
  /** The settled phase: set once, by the batcher's `settle`. */
  readonly settled: boolean;
  /** True when the dispatch wants hook and part events (a stream). */
  readonly streams: boolean;
  /** A hook event for the part starting at `offset` of this dispatch's values. */
  hook(offset: number, hook: string, payload: unknown): void;
}

const ALL_GONE = 'every caller of this batch has gone';

/** Values laid out in slices, as a batch holds them and a key queue's slab keeps them. */
export interface SliceLayout {
  readonly values: unknown[];
  /** Per slice, once a slice is not (0, 1): the first index in its owner's values, and how many. */
  starts: number[] | undefined;
  counts: number[] | undefined;
  /** Values written. */
  size: number;
}

/**
 * Writes slice `slice`: `count` values of `owner` from `start`. A whole one-value dispatch is the
 * (0, 1) that `starts`/`counts` leave out; the first slice that is not makes them, for all slices.
 */
export function writeSlice(into: SliceLayout, slice: number, owner: BatchOwner, start: number, count: number): void {
  if (start === 0 && count === 1) {
    // Against undefined: the truthiness of the field compiled to a full ToBoolean in V8 (5 instructions
    // per value, bench/instructions.js).
    if (into.starts !== undefined) writeWhole(into, slice);
    into.values[into.size++] = owner.value;
  } else writeStretch(into, slice, owner, start, count);
}

/** Slice `slice` is one whole one-value dispatch, in a layout that keeps starts and counts. Apart to keep `writeSlice` small (see Batcher.becameDue). */
function writeWhole(into: SliceLayout, slice: number): void {
  into.starts![slice] = 0;
  into.counts![slice] = 1;
}

/** `writeSlice` of anything but one whole one-value dispatch: apart, to keep the common path small. */
function writeStretch(into: SliceLayout, slice: number, owner: BatchOwner, start: number, count: number): void {
  if (!into.starts) {
    into.starts = new Array(slice + 1).fill(0);
    into.counts = new Array(slice + 1).fill(1);
  }
  into.starts[slice] = start;
  into.counts![slice] = count;
  const values = owner.values;
  for (let i = start, end = start + count; i < end; i++) into.values[into.size++] = values[i];
}

/**
 * One execution: the values, which dispatch owns which contiguous slice of them, and the
 * `BatchContext` handed to the batch function (the batch is its own context, saving an object).
 * Slices are kept in parallel arrays so that building a batch allocates nothing per caller; a
 * batch of all that waited is the key queue's slab itself (see key-queue.ts).
 */
export class Batch<I = any, O = any> implements BatchContext, SliceLayout {
  partition = 0;
  /** Why the batch closed (telemetry's `closedBy`), set when it is taken from its key queue. */
  closedBy: ClosedBy = 'size';
  /**
   * Index, in its owner's values, of each slice's first value, and the slice's length. Left out
   * while every slice is one whole one-value dispatch, (0, 1): see `startOf` and `countOf`.
   */
  starts: number[] | undefined;
  counts: number[] | undefined;
  /** Number of slices (owners) so far. */
  private slices: number;
  /** Outputs were delivered or the batch failed: later emits are dropped. */
  finished = false;
  /** NaN until the batch starts, not 0: a time is not a small integer (shapes.ts). */
  startedAt = NaN;
  waitMs = NaN;
  /** `ctx.attempt`: 1, then one more for each retry of these values (the halves of a split keep it). */
  attempt = 1;
  /** Total cost, kept only when the serving has `.cost`: without it a value costs 1 and `cost` is `size`. */
  costSum: number | undefined = undefined;
  /** The highest priority among its values, kept only when the serving has `reserve` (else 0). */
  priority = 0;
  private controller: AbortController | undefined;
  private live = 0;
  private callerList: BatchCaller[] | undefined;
  /** Fixed as values are added: the batch function may mutate the array it is given. */
  size: number;

  /**
   * Either the arrays of a slab, as they are (`size` values), or arrays to `add` to: made the size
   * the batch will have and written by index (growing them push by push showed in profiles).
   */
  constructor(
    private readonly host: BatchHost,
    readonly batchKey: string,
    readonly values: I[] = [],
    readonly owners: BatchOwner[] = [],
    starts?: number[],
    counts?: number[],
    size = 0,
  ) {
    this.starts = starts;
    this.counts = counts;
    this.size = size;
    this.slices = size === 0 ? 0 : owners.length;
  }

  get cost(): number {
    return this.costSum ?? this.size;
  }

  startOf(slice: number): number {
    return this.starts ? this.starts[slice] : 0;
  }

  countOf(slice: number): number {
    return this.counts ? this.counts[slice] : 1;
  }

  add(owner: BatchOwner, start: number, count: number): void {
    const slice = this.slices++;
    this.owners[slice] = owner;
    writeSlice(this, slice, owner, start, count);
  }

  /** Cuts the arrays to what was added. */
  trim(): void {
    this.values.length = this.size;
    this.owners.length = this.slices;
    if (this.starts) this.starts.length = this.counts!.length = this.slices;
  }

  /** Built on first use: most batch functions never look. */
  get callers(): ReadonlyArray<BatchCaller> {
    if (!this.callerList) {
      const list: BatchCaller[] = [];
      for (let i = 0, offset = 0; i < this.owners.length; offset += this.countOf(i++)) {
        list.push({ offset, size: this.countOf(i), context: this.owners[i].context });
      }
      this.callerList = list;
    }
    return this.callerList;
  }

  /**
   * Created on first use. Only then does the batch register with its dispatches (the host's
   * `watch`), so that a batch function that never reads the signal costs nothing for it.
   */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      this.host.watch(this);
    }
    return this.controller.signal;
  }

  /** `live` of the batch's callers have not settled; with none, or `aborted`, the signal aborts now. */
  track(live: number, aborted: boolean): void {
    this.live = live;
    if (live === 0 || aborted) this.controller?.abort(new Error(ALL_GONE));
  }

  /** One of the batch's dispatches failed (timeout, abort, shutdown) while the batch ran. */
  callerGone(): void {
    if (--this.live === 0) this.controller?.abort(new Error(ALL_GONE));
  }

  abort(reason: unknown): void {
    this.controller?.abort(reason);
  }

  emit(hook: string, payload: HookPayload): void {
    if (!this.host.hooks.has(hook)) throw new UnknownHookError(unknownHook(this.host.name, hook, [...this.host.hooks]));
    if (typeof payload !== 'function' && (!Array.isArray(payload) || payload.length !== this.size)) {
      const got = Array.isArray(payload) ? payload.length : 0;
      throw new BatchResultLengthError(hookPayloadLength(this.host.name, hook, got, this.size));
    }
    if (this.finished) return;
    for (let i = 0, offset = 0; i < this.owners.length; offset += this.countOf(i++)) {
      const owner = this.owners[i];
      if (owner.settled || !owner.streams) continue;
      const entry =
        typeof payload === 'function'
          ? payload(this.callers[i])
          : (payload as readonly unknown[]).slice(offset, offset + this.countOf(i));
      owner.hook(this.startOf(i), hook, entry);
    }
  }
}

// Kept so that full collections keep the compiled code that runs batches (shapes.ts).
keepShape(new Batch({ name: '', hooks: new Set(), watch: () => undefined }, '', [], []));
