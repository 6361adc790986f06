import { SetMetadata } from '@nestjs/common';
import type { ServingOptions } from '../core/options';
import { SERVING_METADATA } from './nest.constants';

/** Options of `@Serving()`: the serving's own options over the module's `defaults`. */
export interface ServingDecoratorOptions extends Partial<ServingOptions> {
  /** What `dispatch('name', …)` and `getServingToken` use. Default: the class name. */
  name?: string;
  /** Hook names that `ctx.emit` may use. Default none. */
  hooks?: readonly string[];
}

/**
 * Marks a provider class that implements `ServingHandler` (`handleBatch`, and optionally
 * `mapInputs`, `mapResults`, `validate`, `batchKey`) as a serving. Stores metadata only: the
 * module finds the provider at init, wherever it is provided, and starts its batcher.
 */
export const Serving = (options: ServingDecoratorOptions = {}): ClassDecorator => SetMetadata(SERVING_METADATA, options);
