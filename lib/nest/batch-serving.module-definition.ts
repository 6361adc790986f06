import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { BatchServingModuleOptions } from './batch-serving.options';

/** Generates `forRoot` / `forRootAsync` (useFactory, useClass, useExisting) and the `isGlobal` extra. */
export const {
  ConfigurableModuleClass,
  MODULE_OPTIONS_TOKEN: BATCH_SERVING_MODULE_OPTIONS,
  OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<BatchServingModuleOptions>({ moduleName: 'BatchServing' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createBatchServingOptions')
  .setExtras({ isGlobal: true }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();

/** What `forRoot` takes: the module options and `isGlobal` (default true). */
export type BatchServingModuleRootOptions = typeof OPTIONS_TYPE;

/** What `forRootAsync` takes: `imports`, `inject` and one of `useFactory`, `useClass`, `useExisting`; `isGlobal` (default true). */
export type BatchServingModuleAsyncOptions = typeof ASYNC_OPTIONS_TYPE;
