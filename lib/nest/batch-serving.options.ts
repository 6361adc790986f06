import type { ShutdownMode } from '../core/batcher';
import type { ServingOptions } from '../core/options';
import type { AnyBatchServing } from '../core/serving';
import type { BatchFunction, ServingHandler } from '../core/types';
import type { ServingTransport } from '../transports/transport';

/**
 * What can be started as a serving: a `BatchServing`, a batch function, or an object with `handleBatch`.
 * (A BatchServing is invariant in its types, so only core's AnyBatchServing accepts every one.)
 */
export type ServingSource =
  | AnyBatchServing
  | BatchFunction<never, unknown>
  | ServingHandler<never, unknown, never, unknown>;

/** A serving given as a value to `forRoot({ servings })`, with its own options over `defaults`. */
export interface ServingDefinition extends Partial<ServingOptions> {
  /** Unique name: what `dispatch('name', …)` and `getServingToken('name')` use. */
  name: string;
  serving: ServingSource;
}

/** How servings stop at `app.close()`. */
export interface ShutdownOptions {
  /** `drain` runs queued values at once and lets running batches finish; `reject` fails queued values. Default `'drain'`. */
  mode: ShutdownMode;
  /** Most time (ms) shutdown waits for work; whatever remains then fails with ServingShutdownError. Default 30000. */
  timeout: number;
}

/** Options of `BatchServingModule.forRoot` / `forRootAsync`. */
export interface BatchServingModuleOptions {
  /** Servings defined as values, started at init next to the `@Serving()` classes. Default none. */
  servings?: ServingDefinition[];
  /** Options under every serving's own (forRoot entries, `@Serving()`, `register`). Default: those of ServingOptions. */
  defaults?: Partial<ServingOptions>;
  /** How servings stop at `app.close()`. Default `{ mode: 'drain', timeout: 30000 }`. */
  shutdown?: Partial<ShutdownOptions>;
  /** Reaches servings hosted by other processes. Default none: everything is in-process. */
  transport?: ServingTransport;
}
