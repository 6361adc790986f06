import { Module, type DynamicModule, type FactoryProvider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { BatchServingClient } from './batch-serving.client';
import { ASYNC_OPTIONS_TYPE, ConfigurableModuleClass, OPTIONS_TYPE } from './batch-serving.module-definition';
import { BatchServingOrchestrator } from './batch-serving.orchestrator';
import { BatchServingRegistry } from './batch-serving.registry';
import { injectedServings } from './injected-servings';
import { FEATURE_SERVINGS } from './nest.constants';
import { createServingRefProviders, ServingRefsModule } from './serving-ref.providers';
import { ServingExplorer } from './serving.explorer';
import { ServingReadiness } from './serving-readiness';
import type { ServingClass } from './serving.types';

/**
 * Runs servings inside a Nest application: `forRoot` / `forRootAsync` once, global by default
 * (`isGlobal: false` opts out). `@InjectServing()` works in any module; `forFeature` remains for
 * refs that no decorator names.
 */
@Module({
  imports: [DiscoveryModule],
  providers: [BatchServingClient, BatchServingRegistry, BatchServingOrchestrator, ServingExplorer, ServingReadiness],
  exports: [BatchServingClient, BatchServingRegistry],
})
export class BatchServingModule extends ConfigurableModuleClass {
  /**
   * Starts the servings of `options.servings` and every `@Serving()` provider at init. Provides
   * the ServingRefs of `options.servings` and of every `@InjectServing()` target.
   */
  static override forRoot(options: typeof OPTIONS_TYPE = {}): DynamicModule {
    return withRefs(super.forRoot(options), (options.servings ?? []).map(({ name }) => name));
  }

  /** As forRoot, with options from a factory: its servings are not known here, so refs come from the decorators. */
  static override forRootAsync(options: typeof ASYNC_OPTIONS_TYPE): DynamicModule {
    return withRefs(super.forRootAsync(options), []);
  }

  /**
   * Provides, in the importing module, the `ServingRef` of each serving (a name or a `@Serving()`
   * class), for refs that no `@InjectServing()` names. Fails at start-up without a forRoot.
   */
  static forFeature(servings: ReadonlyArray<string | ServingClass>): DynamicModule {
    const refs = createServingRefProviders(servings);
    return { module: ServingRefsModule, providers: [...refs, { provide: FEATURE_SERVINGS, useValue: servings }], exports: refs };
  }
}

/**
 * Adds the ref providers to a root module. They are listed when Nest scans the module (the
 * getters run then), not when forRoot is called: a class whose `@InjectServing()` is evaluated
 * after the root module's file still gets its ref.
 */
function withRefs(definition: DynamicModule, servings: readonly string[]): DynamicModule {
  const refs = (): FactoryProvider[] => createServingRefProviders([...servings, ...injectedServings()]);
  const { providers = [], exports = [] } = definition;
  return Object.defineProperties({ ...definition }, {
    providers: { get: () => [...providers, ...refs()], enumerable: true },
    exports: { get: () => [...exports, ...refs().map(({ provide }) => provide)], enumerable: true },
  });
}
