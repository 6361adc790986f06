export { BatchServingModule } from './batch-serving.module';
export {
  BATCH_SERVING_MODULE_OPTIONS,
  type BatchServingModuleAsyncOptions,
  type BatchServingModuleRootOptions,
} from './batch-serving.module-definition';
export type { BatchServingModuleOptions, ServingDefinition, ServingSource, ShutdownOptions } from './batch-serving.options';
export { BatchServingClient } from './batch-serving.client';
export { BatchServingRegistry } from './batch-serving.registry';
export { ServingNameTakenError } from './serving-name-taken.error';
export { BatchServingExceptionFilter, HTTP_STATUS_BY_CODE, type BatchServingErrorBody } from './batch-serving-exception.filter';
export { Serving, type ServingDecoratorOptions } from './serving.decorator';
export { InjectServing, getServingToken } from './serving-token';
export { ServingRef, type ServingRefOf } from './serving-ref';
export { SSE_END_EVENT, toSseEvents, type SseEnd, type SseEventsOptions } from './serving-sse';
export { DEFAULT_SHUTDOWN, SERVING_METADATA } from './nest.constants';
export type { ServingClass, ServingHandlerLike, ServingInput, ServingOutput, ServingRawOutput } from './serving.types';
