import { Inject, Injectable, Logger } from '@nestjs/common';
import { EMPTY, Observable, Subject, defer, filter, from, merge, mergeMap, takeUntil } from 'rxjs';
import { ServingNotFoundError, ServingShutdownError } from '../core/errors';
import type { ShutdownMode } from '../core/batcher';
import type { ServingOptions } from '../core/options';
import { RunningServing } from '../core/running-serving';
import type { BatchServing } from '../core/serving';
import type { BatchTelemetryEvent } from '../core/types';
import { BATCH_SERVING_MODULE_OPTIONS } from './batch-serving.module-definition';
import type { BatchServingModuleOptions, ServingSource } from './batch-serving.options';
import { DEFAULT_SHUTDOWN, LOGGER_CONTEXT } from './nest.constants';
import * as messages from './nest.messages';
import { ServingNameTakenError } from './serving-name-taken.error';
import { prepareServing, type PreparedServing } from './prepared-serving';
import { RouteEpoch } from './hosted-route';

interface Entry {
  readonly running: RunningServing;
  readonly origin: string;
}

/**
 * The servings this process runs, by name: those of the module (started at init) and those
 * registered at run time, a serving per tenant say. The client routes every dispatch through it.
 */
@Injectable()
export class BatchServingRegistry {
  private readonly logger = new Logger(LOGGER_CONTEXT);
  private readonly entries = new Map<string, Entry>();
  /** The last name looked up and its entry: most processes route nearly every dispatch to one serving. */
  private lastName: string | undefined;
  private lastEntry: Entry | undefined;
  /** @internal Changes whenever a name starts or stops routing here: what a short route checks (HostedRoute). */
  readonly epoch = new RouteEpoch();
  private readonly added = new Subject<RunningServing>();
  /** A serving finished stopping: its telemetry completes. */
  private readonly removed = new Subject<RunningServing>();
  private closed = false;

  constructor(@Inject(BATCH_SERVING_MODULE_OPTIONS) private readonly options: BatchServingModuleOptions) {}

  /**
   * Starts `serving` under `name` with `options` over the module's `defaults`, and resolves once it
   * runs (with a transport, once it joined its group). Rejects with ServingNameTakenError for a taken name
   * (HTTP 409 through BatchServingExceptionFilter), ServingConfigurationError for bad options.
   */
  register<In, Out, I, O>(name: string, serving: BatchServing<In, Out, I, O>, options?: Partial<ServingOptions>): Promise<RunningServing<In, Out, O>>;
  register(name: string, serving: ServingSource, options?: Partial<ServingOptions>): Promise<RunningServing>;
  async register(name: string, serving: unknown, options?: Partial<ServingOptions>): Promise<RunningServing> {
    if (this.closed) throw new ServingShutdownError(messages.registryClosed(name));
    const origin = 'BatchServingRegistry.register()';
    return this.start(prepareServing(name, serving, { defaults: this.options.defaults, own: options, origin }));
  }

  /** Stops taking dispatches for `name`, lets its queued and running work finish (within shutdown.timeout), and forgets it. */
  async unregister(name: string): Promise<void> {
    const entry = this.entries.get(name);
    if (!entry) throw new ServingNotFoundError(messages.notRegistered(name, this.list()));
    // Forgotten first: from now on the name routes elsewhere (another member) or is not found.
    this.forget(name);
    await this.stop(entry.running, 'drain', this.options.shutdown?.timeout ?? DEFAULT_SHUTDOWN.timeout);
    this.removed.next(entry.running);
    this.logger.log(messages.unregistered(name));
  }

  /** Names of the servings running in this process, in the order they started. */
  list(): string[] {
    return [...this.entries.keys()];
  }

  /** The running serving `name` of this process, if any. */
  get(name: string): RunningServing | undefined {
    if (name === this.lastName) return this.lastEntry!.running;
    const entry = this.entries.get(name);
    if (entry) (this.lastName = name), (this.lastEntry = entry);
    return entry?.running;
  }

  /** Every removal goes through here, so that `get` never answers from a forgotten entry. */
  private forget(name: string): void {
    this.entries.delete(name);
    this.lastName = this.lastEntry = undefined;
    this.epoch.generation++;
  }

  /** @internal Where the running serving `name` was declared. */
  originOf(name: string): string | undefined {
    return this.entries.get(name)?.origin;
  }

  /** @internal Starts a prepared serving; its name must be free. */
  async start(prepared: PreparedServing): Promise<RunningServing> {
    const { name, origin } = prepared;
    const taken = this.entries.get(name);
    if (taken) throw new ServingNameTakenError(messages.duplicateServing(name, taken.origin, origin));
    const running = new RunningServing(name, prepared.serving, prepared.options);
    this.entries.set(name, { running, origin });
    this.epoch.generation++;
    this.logger.log(messages.started(name, prepared.options, origin));
    this.added.next(running);
    try {
      await running.ready();
      await this.options.transport?.host(running);
    } catch (error) {
      // Half-started is worse than not started: the caller (or init) sees the error and nothing runs.
      this.forget(name);
      await running.close('reject', 0);
      this.removed.next(running);
      throw error;
    }
    return running;
  }

  /** @internal Batch events of one serving (completing when it is unregistered), or of all, merged, including those registered later. */
  telemetry(name?: string): Observable<BatchTelemetryEvent> {
    if (name === undefined) return this.ofAll((running) => running.telemetry());
    const running = this.get(name);
    return running ? this.whileRunning(running, running.telemetry()) : EMPTY;
  }

  /** @internal The failure events of every serving, also those registered later (see RunningServing.failures). */
  failures(): Observable<BatchTelemetryEvent> {
    return this.ofAll((running) => running.failures());
  }

  /** `events` of each serving: those running now, then each one registered later, for as long as each runs. */
  private ofAll(events: (running: RunningServing) => Observable<BatchTelemetryEvent>): Observable<BatchTelemetryEvent> {
    const current = defer(() => from([...this.entries.values()].map(({ running }) => running)));
    return merge(current, this.added).pipe(mergeMap((running) => this.whileRunning(running, events(running))));
  }

  private whileRunning(running: RunningServing, events: Observable<BatchTelemetryEvent>): Observable<BatchTelemetryEvent> {
    return events.pipe(takeUntil(this.removed.pipe(filter((gone) => gone === running))));
  }

  /** @internal Shutdown: no more registrations; every serving stops taking dispatches and finishes its work. */
  async closeAll(mode: ShutdownMode, timeout: number): Promise<void> {
    this.closed = true;
    await Promise.all([...this.entries.values()].map(({ running }) => this.stop(running, mode, timeout)));
  }

  /** @internal Last step of shutdown: every telemetry stream completes. */
  dispose(): void {
    for (const { running } of this.entries.values()) this.removed.next(running);
    this.added.complete();
    this.removed.complete();
  }

  /** Leaves the transport's group first, so that other members stop sending, then closes (once: close is idempotent). */
  private async stop(running: RunningServing, mode: ShutdownMode, timeout: number): Promise<void> {
    if (running.state === 'running') {
      try {
        await this.options.transport?.unhost(running.name);
      } catch (error) {
        this.logger.error(messages.transportUnhostFailed(running.name, error));
      }
    }
    await running.close(mode, timeout);
  }
}
