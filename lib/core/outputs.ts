import { BatchExecutionError, BatchResultLengthError, BatchServingError } from './errors';
import * as messages from './messages';

/** The error for a batch whose outputs are not one per value, or undefined when they are. */
export function checkOutputs(name: string, out: unknown, size: number): BatchResultLengthError | undefined {
  if (Array.isArray(out) && out.length === size) return undefined;
  return new BatchResultLengthError(
    Array.isArray(out) ? messages.resultLength(name, out.length, size) : messages.resultNotArray(name, out, size),
  );
}

/** What a caller gets for an `Error` at position `index` of its values. */
export function valueError(name: string, output: Error, index: number): BatchServingError {
  return output instanceof BatchServingError
    ? output
    : new BatchExecutionError(messages.valueFailed(name, index, output), { cause: output });
}
