import { Module, type FactoryProvider } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { ServingConfigurationError } from '../core/errors';
import { BatchServingClient } from './batch-serving.client';
import * as messages from './nest.messages';
import { getServingToken } from './serving-token';
import { ServingRef } from './serving-ref';
import type { ServingClass } from './serving.types';

/** Holds the ServingRef providers of `BatchServingModule.forFeature()`; it has nothing of its own. */
@Module({})
export class ServingRefsModule {}

/**
 * One `ServingRef` provider per serving, under `getServingToken(serving)`. The ref finds the
 * client through ModuleRef, across modules and on first use, so that `forFeature` works whether
 * or not the module was imported with `isGlobal`, and before the client's module is built.
 */
export function createServingRefProviders(servings: ReadonlyArray<string | ServingClass>): Array<FactoryProvider<ServingRef>> {
  return servings.map((serving) => ({
    provide: getServingToken(serving),
    useFactory: (moduleRef: ModuleRef) => new ServingRef(() => clientOf(moduleRef, serving), serving),
    inject: [ModuleRef],
  }));
}

function clientOf(moduleRef: ModuleRef, serving: string | ServingClass): BatchServingClient {
  try {
    return moduleRef.get(BatchServingClient, { strict: false });
  } catch {
    throw new ServingConfigurationError(messages.clientNotFound(typeof serving === 'string' ? serving : serving.name));
  }
}
