import { ServingConfigurationError } from '../core/errors';
import { resolveServingOptions, type ServingOptions } from '../core/options';
import { BatchServing } from '../core/serving';
import { DEFAULT_SHUTDOWN } from './nest.constants';
import type { ShutdownOptions } from './batch-serving.options';
import * as messages from './nest.messages';

/** A serving checked and ready to start: every way of declaring one ends up here. */
export interface PreparedServing {
  readonly name: string;
  readonly serving: BatchServing;
  readonly options: ServingOptions;
  /** Where it was declared, for start-up logs and errors: "@Serving() class EmbedServing (AppModule)". */
  readonly origin: string;
}

/**
 * Turns a declared serving into one that can start, or throws ServingConfigurationError naming it:
 * so that a bad name, a class without handleBatch, or a bad option fails at start-up, never at dispatch.
 */
export function prepareServing(
  name: unknown,
  source: unknown,
  options: { defaults?: Partial<ServingOptions>; own?: Partial<ServingOptions>; hooks?: readonly string[]; origin: string },
): PreparedServing {
  const { origin } = options;
  if (typeof name !== 'string' || name.length === 0) throw new ServingConfigurationError(messages.invalidServingName(origin, name));
  const isHandler = source !== null && typeof source === 'object' && typeof (source as { handleBatch?: unknown }).handleBatch === 'function';
  if (!(source instanceof BatchServing) && typeof source !== 'function' && !isHandler) {
    throw new ServingConfigurationError(messages.notAHandler(name, origin, source));
  }
  return {
    name,
    serving: BatchServing.of(source, name, options.hooks ?? []),
    options: resolveServingOptions(name, options.defaults, options.own),
    origin,
  };
}

/** The module's `shutdown` option over its defaults; throws ServingConfigurationError for values that cannot work. */
export function resolveShutdown(shutdown: Partial<ShutdownOptions> | undefined): ShutdownOptions {
  const resolved = { ...DEFAULT_SHUTDOWN, ...stripUndefined(shutdown) };
  if (resolved.mode !== 'drain' && resolved.mode !== 'reject') {
    throw new ServingConfigurationError(messages.invalidShutdown('mode', resolved.mode, "'drain' or 'reject'"));
  }
  if (typeof resolved.timeout !== 'number' || !(resolved.timeout >= 0) || !Number.isFinite(resolved.timeout)) {
    throw new ServingConfigurationError(messages.invalidShutdown('timeout', resolved.timeout, 'a finite number of milliseconds, 0 or more'));
  }
  return resolved;
}

function stripUndefined<T extends object>(value: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(value ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}
