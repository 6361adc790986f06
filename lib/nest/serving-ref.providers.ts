import { Inject, Module, type FactoryProvider, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { ServingConfigurationError } from '../core/errors';
import { BatchServingClient } from './batch-serving.client';
import { FEATURE_SERVINGS } from './nest.constants';
import * as messages from './nest.messages';
import { getServingMetadata } from './serving-metadata.accessor';
import { getServingToken } from './serving-token';
import { ServingRef } from './serving-ref';
import type { ServingClass } from './serving.types';

/**
 * Holds the ServingRef providers of `BatchServingModule.forFeature()`. At init it checks that the
 * application has a client: without forRoot the app would boot and fail on the first dispatch.
 */
@Module({})
export class ServingRefsModule implements OnModuleInit {
  constructor(
    private readonly moduleRef: ModuleRef,
    @Inject(FEATURE_SERVINGS) private readonly servings: ReadonlyArray<string | ServingClass>,
  ) {}

  onModuleInit(): void {
    clientOf(this.moduleRef, () => messages.featureWithoutRoot(this.servings.map(nameOf)));
  }
}

/**
 * One `ServingRef` provider per serving (duplicates dropped), under `getServingToken(serving)`.
 * The ref finds the client through ModuleRef, across modules and on first use, so that refs
 * work whether or not the module was imported with `isGlobal`, and before the client's module
 * is built. A class that is not a `@Serving()` fails when the provider is built, at start-up.
 */
export function createServingRefProviders(servings: ReadonlyArray<string | ServingClass>): Array<FactoryProvider<ServingRef>> {
  const byToken = new Map(servings.map((serving) => [getServingToken(serving), serving]));
  return [...byToken].map(([token, serving]) => ({
    provide: token,
    useFactory: (moduleRef: ModuleRef) => {
      if (typeof serving !== 'string' && !getServingMetadata(serving)) {
        throw new ServingConfigurationError(messages.notAServingClass(serving.name));
      }
      return new ServingRef(() => clientOf(moduleRef, () => messages.clientNotFound(nameOf(serving))), serving);
    },
    inject: [ModuleRef],
  }));
}

function clientOf(moduleRef: ModuleRef, message: () => string): BatchServingClient {
  try {
    return moduleRef.get(BatchServingClient, { strict: false });
  } catch {
    throw new ServingConfigurationError(message());
  }
}

const nameOf = (serving: string | ServingClass): string => (typeof serving === 'string' ? serving : serving.name);
