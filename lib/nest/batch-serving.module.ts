import { Module, type DynamicModule } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { BatchServingClient } from './batch-serving.client';
import { ConfigurableModuleClass, OPTIONS_TYPE } from './batch-serving.module-definition';
import { BatchServingOrchestrator } from './batch-serving.orchestrator';
import { BatchServingRegistry } from './batch-serving.registry';
import { createServingRefProviders, ServingRefsModule } from './serving-ref.providers';
import { ServingExplorer } from './serving.explorer';
import { ServingReadiness } from './serving-readiness';
import type { ServingClass } from './serving.types';

/**
 * Runs servings inside a Nest application: `forRoot` / `forRootAsync` once (with `isGlobal: true`
 * to make the client injectable in every module), `forFeature` where a `@Serving()` class or a
 * serving registered at run time is injected with `@InjectServing()`.
 */
@Module({
  imports: [DiscoveryModule],
  providers: [BatchServingClient, BatchServingRegistry, BatchServingOrchestrator, ServingExplorer, ServingReadiness],
  exports: [BatchServingClient, BatchServingRegistry],
})
export class BatchServingModule extends ConfigurableModuleClass {
  /** Starts the servings of `options.servings` and every `@Serving()` provider at init. Also provides the ServingRefs of `options.servings`. */
  static override forRoot(options: typeof OPTIONS_TYPE = {}): DynamicModule {
    const definition = super.forRoot(options);
    const refs = createServingRefProviders((options.servings ?? []).map(({ name }) => name));
    return { ...definition, providers: [...(definition.providers ?? []), ...refs], exports: [...(definition.exports ?? []), ...refs] };
  }

  /**
   * Provides, in the importing module, the `ServingRef` of each serving (a name or a `@Serving()`
   * class) for `@InjectServing()`. The servings themselves are found or registered as usual.
   */
  static forFeature(servings: ReadonlyArray<string | ServingClass>): DynamicModule {
    const refs = createServingRefProviders(servings);
    return { module: ServingRefsModule, providers: refs, exports: refs };
  }
}
