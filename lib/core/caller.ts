import { NO_STAMP, type TurnStamp } from './clock';
import type { CallerSide, DispatchExtras, QueuedDispatch } from './dispatch';
import { BatchExecutionError, BatchResultLengthError, InvalidInputError, type BatchServingError } from './errors';
import * as messages from './messages';
import type { Slab } from './key-queue';
import type { ServingSpec } from './serving-spec';
import { keepShape, noop } from './shapes';

// NO_STAMP read once for SingleDispatch: through the module object, 5 more bytes of bytecode on the
// dispatch path, which must fit V8's inlining budget (ARCHITECTURE.md).
const unstamped = NO_STAMP;

/*
 * The caller side of a dispatch: validate and mapInputs before the values are queued,
 * mapResults after the outputs are back. It runs where the caller is, also when the batch
 * runs in another process.
 */

type AnySpec = ServingSpec<unknown, unknown, unknown, unknown>;

/** The values to batch for `inputs`; throws InvalidInputError naming the serving. */
export function prepare(spec: AnySpec, name: string, inputs: unknown[]): unknown[] {
  if (spec.validate) {
    for (const input of inputs) {
      try {
        spec.validate(input);
      } catch (cause) {
        throw new InvalidInputError(messages.invalidInput(name, cause), { cause });
      }
    }
  }
  if (!spec.mapInputs) return inputs;
  let values: unknown;
  try {
    values = spec.mapInputs(inputs);
  } catch (cause) {
    throw new InvalidInputError(messages.mapInputsFailed(name, cause), { cause });
  }
  if (!Array.isArray(values)) throw new InvalidInputError(messages.mapInputsNotArray(name));
  return values;
}

/** The results for `inputs` from their outputs; throws when mapResults breaks its contract. */
export function finish(spec: AnySpec, name: string, outputs: unknown[], inputs: unknown[]): unknown[] {
  if (!spec.mapResults) {
    if (outputs.length !== inputs.length) throw new BatchResultLengthError(messages.mapResultsLength(name, outputs.length, inputs.length));
    return outputs;
  }
  let results: unknown;
  try {
    results = spec.mapResults(outputs, inputs);
  } catch (cause) {
    throw new BatchExecutionError(messages.mapResultsFailed(name, cause), { cause });
  }
  if (!Array.isArray(results) || results.length !== inputs.length) {
    throw new BatchResultLengthError(messages.mapResultsLength(name, Array.isArray(results) ? results.length : typeof results, inputs.length));
  }
  return results;
}

/**
 * A dispatch that settles a promise: `one` resolves with the single result, else with all.
 * It is the one made per `dispatch()` call, so it declares every field itself rather than
 * extending `Dispatch`: measured, the `super()` call alone cost about 300 instructions per value.
 */
export class PromiseDispatch implements QueuedDispatch<unknown, unknown> {
  readonly dispatch: PromiseDispatch = this;
  next = 0;
  readonly end: number;
  slab: Slab | undefined = undefined;
  settled = false;
  enqueuedAt: TurnStamp = NO_STAMP;
  extras: DispatchExtras | undefined = undefined;
  readonly streams = false;
  readonly value: unknown;

  constructor(
    readonly values: unknown[],
    readonly context: unknown,
    private readonly spec: AnySpec,
    private readonly name: string,
    private readonly inputs: unknown[],
    private readonly one: boolean,
    private readonly resolve: (value: unknown) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    this.end = values.length;
    this.value = values[0];
  }

  complete(source: unknown[], offset: number): void {
    const n = this.end;
    const outputs = offset === 0 && source.length === n ? source : source.slice(offset, offset + n);
    let results: unknown[];
    try {
      results = finish(this.spec, this.name, outputs, this.inputs);
    } catch (error) {
      return this.reject(error);
    }
    this.resolve(this.one ? results[0] : results);
  }

  fail(error: BatchServingError): void {
    this.reject(error);
  }

  hook(): void {}

  part(): void {}
}

/**
 * `dispatch(input)` of a serving without mapInputs or mapResults: one input, one value, its output
 * the result. The commonest dispatch by far, so it is as small as it can be: no values array, no
 * multi-batch bookkeeping, nothing of its serving, no context unless asked (`extras`). Measured:
 * about 110 B and 300 instructions less per value than a PromiseDispatch; holding neither its
 * serving nor a context field saves 16 B more (bench/instructions.js, BENCHMARKS.md). A serving
 * with mapResults (and no mapInputs) gives it `extras.caller`, to run mapResults on its output.
 */
export class SingleDispatch implements QueuedDispatch<unknown, unknown> {
  // Fields are declared and set in the constructor only: as class fields (ES2022), V8 would run
  // a separate initializer and store the parameter fields twice, which showed in profiles
  // (~50 instructions per value where the initializer was not inlined, bench/instructions.js).
  declare next: number;
  declare slab: Slab | undefined;
  declare settled: boolean;
  declare enqueuedAt: TurnStamp;
  declare extras: DispatchExtras | undefined;
  declare readonly value: unknown;
  /**
   * Only `resolve` is kept; a failure settles with `resolve(Promise.reject(error))`. Keeping
   * `reject` too would keep its closure alive, about 64 B of every queued dispatch. The rejected
   * promise is adopted within a tick, so it is never reported as unhandled.
   */
  private declare readonly resolve: (value: unknown) => void;

  constructor(value: unknown, resolve: (value: unknown) => void) {
    this.next = 0;
    this.slab = undefined;
    this.settled = false;
    this.enqueuedAt = unstamped;
    this.extras = undefined;
    this.value = value;
    this.resolve = resolve;
  }

  get dispatch(): SingleDispatch {
    return this;
  }

  get end(): number {
    return 1;
  }

  get streams(): boolean {
    return false;
  }

  /** `options.context`, kept with the rare fields: most dispatches have none. */
  get context(): unknown {
    return this.extras?.context;
  }

  /** Only for the rare paths that need an array (batch keys). */
  get values(): unknown[] {
    return [this.value];
  }

  complete(source: unknown[], offset: number): void {
    const extras = this.extras;
    if (extras === undefined || extras.caller === undefined) return this.resolve(source[offset]);
    this.completeMapped(extras.caller, source[offset]);
  }

  /** mapResults of this dispatch's output; a mapResults that breaks its contract fails it. */
  private completeMapped({ spec, name }: CallerSide, output: unknown): void {
    try {
      // A fresh array: mapResults may change what it is given, never the batch function's output.
      this.resolve(finish(spec, name, [output], [this.value])[0]);
    } catch (error) {
      this.resolve(Promise.reject(error));
    }
  }

  fail(error: BatchServingError): void {
    this.resolve(Promise.reject(error));
  }

  hook(): void {}

  part(): void {}
}

const NO_SPEC = { handle: () => [] } as unknown as AnySpec;

// Kept so that full collections keep the compiled dispatch path (shapes.ts).
keepShape(new SingleDispatch(undefined, noop));
keepShape(new PromiseDispatch([], undefined, NO_SPEC, '', [], false, noop, noop));
