import type { BatchFunction } from './types';
import type { WorkerSource } from './worker/worker-source';

/** The parts of a serving definition. Methods, not function properties, so that a serving of
 * specific types is assignable to one of unknown types. */
export interface ServingSpec<In, Out, I, O> {
  handle(values: I[], ctx: Parameters<BatchFunction<I, O>>[1]): O[] | Promise<O[]>;
  mapInputs?(inputs: In[]): I[];
  mapResults?(outputs: O[], inputs: In[]): Out[];
  validate?(input: In): void;
  batchKey?(value: I): string;
  cost?(value: I): number;
  readonly hooks: readonly string[];
  /** Set for a worker serving: its batches run on threads, `handle` is the inline run. */
  readonly worker?: WorkerSource;
}

/** What a running serving needs of a serving definition (a `BatchServing`): its spec. */
export interface Servable {
  readonly spec: ServingSpec<any, any, any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}
