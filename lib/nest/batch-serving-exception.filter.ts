import { Catch, HttpStatus, Logger, Optional, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { throwError, type Observable } from 'rxjs';
import { BatchServingError, RetryableError, type BatchServingErrorCode } from '../core/errors';
import { LOGGER_CONTEXT } from './nest.constants';
import { ServingNameTakenError } from './serving-name-taken.error';

/** HTTP status of each error code; any code not listed is 500, but a taken serving name (ServingNameTakenError) is 409. */
export const HTTP_STATUS_BY_CODE: Readonly<Partial<Record<BatchServingErrorCode, number>>> = Object.freeze({
  SERVING_NOT_FOUND: HttpStatus.NOT_FOUND,
  INVALID_INPUT: HttpStatus.BAD_REQUEST,
  SERVING_OVERLOADED: HttpStatus.SERVICE_UNAVAILABLE,
  SERVING_SHUTDOWN: HttpStatus.SERVICE_UNAVAILABLE,
  SERVING_UNAVAILABLE: HttpStatus.SERVICE_UNAVAILABLE,
  DISPATCH_TIMEOUT: HttpStatus.GATEWAY_TIMEOUT,
  // A single value the provider refused as too large, even alone: the client sent too much.
  BATCH_TOO_LARGE: HttpStatus.PAYLOAD_TOO_LARGE,
  // A failure worth another try: with Retry-After when the provider said when.
  RETRYABLE: HttpStatus.SERVICE_UNAVAILABLE,
});

/** The body of an HTTP error answered by BatchServingExceptionFilter. */
export interface BatchServingErrorBody {
  statusCode: number;
  code: BatchServingErrorCode;
  message: string;
}

/**
 * Optional: answers a `BatchServingError` thrown by a route with its HTTP status (see
 * HTTP_STATUS_BY_CODE) and `{ statusCode, code, message }`; a `RetryableError` with `retryAfterMs`
 * also sets `Retry-After` (whole seconds, rounded up). A 500 says only "Internal server
 * error" and logs the error, as Nest does for unknown errors: a failed batch's message carries
 * whatever the model threw, which is not for clients. Register it with
 * `{ provide: APP_FILTER, useClass: BatchServingExceptionFilter }`, `@UseFilters()`, or
 * `app.useGlobalFilters(new BatchServingExceptionFilter(app.get(HttpAdapterHost)))`.
 */
@Catch(BatchServingError)
export class BatchServingExceptionFilter implements ExceptionFilter<BatchServingError> {

  /** Without an HttpAdapterHost (e.g. `new BatchServingExceptionFilter()`), it answers through the Express response API. */
  constructor(@Optional() private readonly adapterHost?: HttpAdapterHost) {}

  catch(error: BatchServingError, host: ArgumentsHost): void | Observable<never> {
    // Only HTTP has a status to map to: elsewhere (RPC) the error goes back as it was thrown.
    if (host.getType() !== 'http') return throwError(() => error);
    const body = publicErrorBody(error);
    const response: unknown = host.switchToHttp().getResponse();
    const adapter = this.adapterHost?.httpAdapter;
    const retryAfter = retryAfterSeconds(error);
    if (adapter) {
      if (retryAfter !== undefined) adapter.setHeader(response, 'Retry-After', retryAfter);
      adapter.reply(response, body, body.statusCode);
    } else {
      const express = response as { setHeader(name: string, value: string): void; status(code: number): { json(body: unknown): void } };
      if (retryAfter !== undefined) express.setHeader('Retry-After', retryAfter);
      express.status(body.statusCode).json(body);
    }
  }
}

const logger = new Logger(LOGGER_CONTEXT);

/** `Retry-After` in whole seconds, rounded up so that a client never comes back too early. */
function retryAfterSeconds(error: BatchServingError): string | undefined {
  const ms = error instanceof RetryableError ? error.retryAfterMs : undefined;
  return ms !== undefined && Number.isFinite(ms) && ms >= 0 ? String(Math.ceil(ms / 1000)) : undefined;
}

/**
 * What a client is told of `error`: its status and code, and its message unless it is a 500,
 * which is logged instead (a failed batch's message carries whatever the model threw).
 */
export function publicErrorBody(error: BatchServingError): BatchServingErrorBody {
  const statusCode = error instanceof ServingNameTakenError ? HttpStatus.CONFLICT : (HTTP_STATUS_BY_CODE[error.code] ?? HttpStatus.INTERNAL_SERVER_ERROR);
  if (statusCode !== HttpStatus.INTERNAL_SERVER_ERROR) return { statusCode, code: error.code, message: error.message };
  logger.error(error.message, error.stack);
  return { statusCode, code: error.code, message: 'Internal server error' };
}
