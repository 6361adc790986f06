import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import { ServingShutdownError } from '../core/errors';
import { BATCH_SERVING_MODULE_OPTIONS } from './batch-serving.module-definition';
import type { BatchServingModuleOptions, ShutdownOptions } from './batch-serving.options';
import { BatchServingRegistry } from './batch-serving.registry';
import { DEFAULT_SHUTDOWN, LOGGER_CONTEXT } from './nest.constants';
import * as messages from './nest.messages';
import { ServingNameTakenError } from './serving-name-taken.error';
import { prepareServing, resolveShutdown, type PreparedServing } from './prepared-serving';
import { ServingExplorer } from './serving.explorer';
import { ServingReadiness } from './serving-readiness';

/**
 * Starts the module's servings at init and stops them at shutdown. Stopping happens in two steps
 * of Nest's shutdown: the work drains in `beforeApplicationShutdown`, while the HTTP server still
 * answers the requests that wait for it; the transport is released in `onApplicationShutdown`.
 */
@Injectable()
export class BatchServingOrchestrator implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(LOGGER_CONTEXT);
  private shutdown: ShutdownOptions = DEFAULT_SHUTDOWN;
  private failures: Subscription | undefined;
  /** The transport is closed only if it was started: an app closed before init never connected. */
  private transportStarted = false;

  constructor(
    @Inject(BATCH_SERVING_MODULE_OPTIONS) private readonly options: BatchServingModuleOptions,
    private readonly explorer: ServingExplorer,
    private readonly registry: BatchServingRegistry,
    private readonly readiness: ServingReadiness,
  ) {}

  async onModuleInit(): Promise<void> {
    try {
      this.shutdown = resolveShutdown(this.options.shutdown);
      // Every serving is checked before any starts: a bad one fails init with nothing left running.
      const servings = this.plan();
      // Failures only: a batch that succeeds builds no telemetry event for this.
      this.failures = this.registry
        .failures()
        .subscribe((event) => this.logger.warn(messages.batchFailedLog(event.serving, event.size, event.partition, event.error)));
      this.transportStarted = this.options.transport !== undefined;
      await this.options.transport?.start();
      for (const serving of servings) await this.registry.start(serving);
      this.readiness.open();
    } catch (error) {
      this.readiness.fail(error);
      // After a failed init Nest's close() re-throws the error and runs no shutdown hook:
      // what was started is released here or never.
      await this.release('reject', 0).catch(() => undefined);
      throw error;
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.readiness.fail(new ServingShutdownError(messages.closedBeforeReady()));
    const { mode, timeout } = this.shutdown;
    const count = this.registry.list().length;
    if (count === 0) return this.registry.closeAll(mode, timeout);
    this.logger.log(messages.stopping(count, mode, timeout));
    const since = performance.now();
    await this.registry.closeAll(mode, timeout);
    this.logger.log(messages.stopped(count, performance.now() - since));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.release(this.shutdown.mode, this.shutdown.timeout);
  }

  /** Stops what is still running (nothing, after beforeApplicationShutdown), then the transport. */
  private async release(mode: ShutdownOptions['mode'], timeout: number): Promise<void> {
    try {
      await this.registry.closeAll(mode, timeout);
      if (this.transportStarted) await this.options.transport?.close();
    } finally {
      this.registry.dispose();
      this.failures?.unsubscribe();
    }
  }

  /** The servings of `forRoot({ servings })` and the `@Serving()` providers, prepared, with unique names. */
  private plan(): PreparedServing[] {
    const { servings = [], defaults } = this.options;
    const planned = [
      ...servings.map(({ name, serving, ...own }, i) => prepareServing(name, serving, { defaults, own, origin: `forRoot servings[${i}]` })),
      ...this.explorer.explore().map(({ name, instance, options: { name: _name, hooks, ...own }, origin }) =>
        prepareServing(name, instance, { defaults, own, hooks, origin }),
      ),
    ];
    const byName = new Map<string, PreparedServing>();
    for (const serving of planned) {
      const first = byName.get(serving.name)?.origin ?? this.registry.originOf(serving.name);
      if (first) throw new ServingNameTakenError(messages.duplicateServing(serving.name, first, serving.origin));
      byName.set(serving.name, serving);
    }
    return planned;
  }
}
