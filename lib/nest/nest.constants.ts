/* Metadata keys, token prefixes and the defaults of the Nest layer, in one place. */
import type { ShutdownOptions } from './batch-serving.options';

/** Metadata key under which `@Serving()` stores its options on the class. */
export const SERVING_METADATA = 'nestjs-batch-serving:serving';

/** Prefix of `getServingToken(name)`: the ServingRef of serving `embed` is `BatchServing:embed`. */
export const SERVING_TOKEN_PREFIX = 'BatchServing:';

/** Context of every line the package logs through Nest's `Logger`. */
export const LOGGER_CONTEXT = 'BatchServing';

/** Default of the module's `shutdown` option: drain for up to 30 s. */
export const DEFAULT_SHUTDOWN: Readonly<ShutdownOptions> = Object.freeze({ mode: 'drain', timeout: 30_000 });

/** The servings a `forFeature([...])` module provides refs for: its start-up check names them. */
export const FEATURE_SERVINGS = 'nestjs-batch-serving:feature-servings';
