/** Stable codes of every error the package raises; they survive the network. */
export type BatchServingErrorCode =
  | 'SERVING_NOT_FOUND'
  | 'BATCH_FAILED'
  | 'RESULT_LENGTH_MISMATCH'
  | 'INVALID_INPUT'
  | 'DISPATCH_TIMEOUT'
  | 'DISPATCH_ABORTED'
  | 'SERVING_OVERLOADED'
  | 'SERVING_SHUTDOWN'
  | 'SERVING_UNAVAILABLE'
  | 'UNKNOWN_HOOK'
  | 'INVALID_CONFIGURATION'
  | 'BATCH_TOO_LARGE'
  | 'RETRYABLE';

export interface BatchServingErrorOptions {
  cause?: unknown;
}

/** Base of every error of the package: `code` is stable, `message` names the serving and the fix. */
export abstract class BatchServingError extends Error {
  abstract readonly code: BatchServingErrorCode;

  constructor(message: string, options?: BatchServingErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** No serving of that name is registered (or, with `{ local: true }`, hosted in this process). */
export class ServingNotFoundError extends BatchServingError {
  readonly code = 'SERVING_NOT_FOUND' as const;
}

/** The batch function threw or rejected (`cause`), or returned an `Error` for one of the caller's values. */
export class BatchExecutionError extends BatchServingError {
  readonly code = 'BATCH_FAILED' as const;
}

/** The batch function (or `mapResults`, or a hook payload) did not give one entry per value. */
export class BatchResultLengthError extends BatchServingError {
  readonly code = 'RESULT_LENGTH_MISMATCH' as const;
}

/** `validate` refused the input (`cause` = what it threw), or `mapInputs` threw. */
export class InvalidInputError extends BatchServingError {
  readonly code = 'INVALID_INPUT' as const;
}

/** The dispatch's deadline passed before its results came back. */
export class DispatchTimeoutError extends BatchServingError {
  readonly code = 'DISPATCH_TIMEOUT' as const;
}

/** The dispatch's `AbortSignal` fired (`cause` = its reason). */
export class DispatchAbortedError extends BatchServingError {
  readonly code = 'DISPATCH_ABORTED' as const;
}

/** Accepting the dispatch would put more than `maxQueueSize` values in the queue. */
export class ServingOverloadedError extends BatchServingError {
  readonly code = 'SERVING_OVERLOADED' as const;
}

/** The serving is shutting down or stopped. */
export class ServingShutdownError extends BatchServingError {
  readonly code = 'SERVING_SHUTDOWN' as const;
}

/** No member could serve the dispatch, or the member holding it went away. */
export class ServingUnavailableError extends BatchServingError {
  readonly code = 'SERVING_UNAVAILABLE' as const;
}

/** `ctx.emit` named a hook that `.streaming({ hooks })` did not declare. */
export class UnknownHookError extends BatchServingError {
  readonly code = 'UNKNOWN_HOOK' as const;
}

/** Options or servings that cannot work: raised at start-up, never at dispatch. */
export class ServingConfigurationError extends BatchServingError {
  readonly code = 'INVALID_CONFIGURATION' as const;
}

/**
 * Thrown by a batch function when the provider refused the batch as too large (an HTTP 413, say):
 * the batch is halved and each half runs again. A single value still too large fails with it.
 */
export class BatchTooLargeError extends BatchServingError {
  readonly code = 'BATCH_TOO_LARGE' as const;
}

/** Options of `RetryableError`. */
export interface RetryableErrorOptions extends BatchServingErrorOptions {
  /** Run again after this many ms, and start no batch of the serving until then (a provider's 429 `retry-after`). */
  retryAfterMs?: number;
}

/**
 * Thrown by a batch function for a failure worth trying again (a rate limit, a timeout of the
 * provider): with a `retry` option, the values run again after the backoff, or after `retryAfterMs`.
 */
export class RetryableError extends BatchServingError {
  readonly code = 'RETRYABLE' as const;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options?: RetryableErrorOptions) {
    super(message, options);
    this.retryAfterMs = options?.retryAfterMs;
  }
}

type ErrorClass = new (message: string, options?: RetryableErrorOptions) => BatchServingError;

const errorClasses: Record<BatchServingErrorCode, ErrorClass> = {
  SERVING_NOT_FOUND: ServingNotFoundError,
  BATCH_FAILED: BatchExecutionError,
  RESULT_LENGTH_MISMATCH: BatchResultLengthError,
  INVALID_INPUT: InvalidInputError,
  DISPATCH_TIMEOUT: DispatchTimeoutError,
  DISPATCH_ABORTED: DispatchAbortedError,
  SERVING_OVERLOADED: ServingOverloadedError,
  SERVING_SHUTDOWN: ServingShutdownError,
  SERVING_UNAVAILABLE: ServingUnavailableError,
  UNKNOWN_HOOK: UnknownHookError,
  INVALID_CONFIGURATION: ServingConfigurationError,
  BATCH_TOO_LARGE: BatchTooLargeError,
  RETRYABLE: RetryableError,
};

/**
 * Rebuilds an error from its code and message, so that one that crossed a process or thread
 * boundary keeps its class; `options` carries what some classes keep (RetryableError's retryAfterMs).
 */
export function errorFromCode(code: string, message: string, options?: RetryableErrorOptions): BatchServingError | undefined {
  const ErrorClass = errorClasses[code as BatchServingErrorCode];
  return ErrorClass ? new ErrorClass(message, options) : undefined;
}

export function isBatchServingError(error: unknown): error is BatchServingError {
  return error instanceof BatchServingError;
}
