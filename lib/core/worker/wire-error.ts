import { errorFromCode } from '../errors';

/** An error as a worker thread sends it (see partition-thread.js): a record that keeps its name. */
export interface WireError {
  workerError: true;
  name: string;
  message: string;
  stack?: string;
  code?: unknown;
  /** A RetryableError's `retryAfterMs`. */
  retryAfterMs?: number;
}

export function isWireError(value: unknown): value is WireError {
  return typeof value === 'object' && value !== null && (value as WireError).workerError === true;
}

/**
 * The error again, on this side: one of ours keeps its class (an UnknownHookError thrown by
 * ctx.emit in the thread; a RetryableError with its retryAfterMs, or a BatchTooLargeError, which
 * the retry policy reads), any other keeps its name, message, stack and code.
 */
export function fromWire(wire: WireError): Error {
  const ours = typeof wire.code === 'string' && wire.name.endsWith('Error') ? errorFromCode(wire.code, wire.message, { retryAfterMs: wire.retryAfterMs }) : undefined;
  const error = ours ?? new Error(wire.message);
  if (!ours) error.name = wire.name;
  if (wire.stack) error.stack = wire.stack;
  if (wire.code !== undefined && !ours) (error as Error & { code?: unknown }).code = wire.code;
  return error;
}
