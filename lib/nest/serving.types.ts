import type { BatchContext } from '../core/types';

/*
 * Types that let `client.dispatch(EmbedServing, 'text')` know its input and result from the
 * class: `mapInputs` decides the input when the class has it, else `handleBatch`; `mapResults`
 * decides the result when the class has it, else the elements of what `handleBatch` resolves to,
 * less `Error`, which fails the caller instead of being returned.
 */

/** What a `@Serving()` class's instances have. Parameters are `never` so that any `handleBatch` fits. */
export interface ServingHandlerLike {
  handleBatch(values: never[], ctx: BatchContext): unknown;
}

/** A `@Serving()` class, as `dispatch(EmbedServing, …)` and `@InjectServing(EmbedServing)` take it. */
export type ServingClass<H extends ServingHandlerLike = ServingHandlerLike> = abstract new (...args: never) => H;

type HandlerOf<C> = C extends abstract new (...args: never) => infer H ? H : never;

type BatchValue<H> = H extends { handleBatch(values: Array<infer I>, ...rest: never[]): unknown } ? I : unknown;

/** What `handleBatch` of the class returns per value (the raw outputs of `stream` events). */
export type ServingRawOutput<C> =
  HandlerOf<C> extends { handleBatch(...args: never[]): infer R }
    ? Awaited<R> extends ReadonlyArray<infer O>
      ? Exclude<O, Error>
      : unknown
    : unknown;

/** What a caller passes to the class's serving. */
export type ServingInput<C> =
  HandlerOf<C> extends { mapInputs(inputs: Array<infer In>): unknown } ? In : BatchValue<HandlerOf<C>>;

/** What a caller gets back from the class's serving. */
export type ServingOutput<C> =
  HandlerOf<C> extends { mapResults(...args: never[]): ReadonlyArray<infer Out> } ? Out : ServingRawOutput<C>;
