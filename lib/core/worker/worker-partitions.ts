import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { BroadcastChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { ServingConfigurationError } from '../errors';
import type { BatchContext } from '../types';
import { fromWire, isWireError, type WireError } from './wire-error';
import type { WorkerSource } from './worker-source';
import * as messages from './worker.messages';

/** What a thread answers for a batch: the outputs, and how many hook events it sent before them. */
interface ThreadResult {
  outputs: unknown[];
  emitted: number;
}

/** What a thread announces once it has loaded the worker module and run `init`. */
interface ThreadReady {
  threadId: number;
  ok: boolean;
  error?: WireError;
}

/** A hook event from a thread: one entry per value, or one result per caller. */
type HookMessage = { batch: number; hook: string } & ({ payload: unknown[] } | { perCaller: unknown[] });

/** A batch running on a thread, as its hook events find it. */
interface RunningBatch {
  readonly ctx: BatchContext;
  received: number;
  expected: number;
  allReceived?: () => void;
}

/** The `cost` and `attempt` of a context that has them (the budgets and retries of section 9). */
type FullContext = BatchContext & { cost?: number; attempt?: number };

const THREAD_FILE = join(__dirname, 'partition-thread.js');

/**
 * The threads of one running worker serving, a piscina pool of exactly `partitions` threads, one
 * batch at a time each: the batcher never runs more than `partitions` batches, so every batch it
 * starts finds a free thread. `run` is the batch function the batcher calls.
 */
export class WorkerPartitions {
  private pool: Piscina | undefined;
  private startError: Error | undefined;
  /** Hook events and ready announcements come in here; aborts go out there (see partition-thread.js). */
  private readonly channelId = `nestjs-batch-serving:${randomUUID()}`;
  private readonly fromThreads = new BroadcastChannel(`${this.channelId}:to-serving`);
  private readonly toThreads = new BroadcastChannel(`${this.channelId}:to-threads`);
  private readonly batches = new Map<number, RunningBatch>();
  private nextBatch = 0;

  constructor(
    private readonly name: string,
    private readonly source: WorkerSource,
    private readonly threads: number,
    private readonly hooks: readonly string[],
  ) {
    // Unref'd so that a serving never keeps the process alive; fromThreads only once started,
    // since until then it is all that waits for the threads' announcements.
    this.toThreads.unref();
  }

  /**
   * Starts every thread and resolves once each has loaded the module and run `init`; rejects with
   * ServingConfigurationError naming the file when one could not, and ends the threads.
   */
  async start(): Promise<void> {
    if (this.startError) throw this.startError;
    const pool = new Piscina({
      filename: THREAD_FILE,
      minThreads: this.threads,
      maxThreads: this.threads,
      concurrentTasksPerWorker: 1,
      idleTimeout: Infinity,
      // Not piscina's default ('sync'): an idle thread would block in Atomics.wait, and the
      // worker module's own timers and I/O would stop between batches.
      atomics: 'async',
      resourceLimits: this.source.resourceLimits,
      execArgv: this.source.execArgv,
      workerData: {
        filename: this.source.filename,
        userData: this.source.workerData,
        hooks: [...this.hooks],
        toServing: `${this.channelId}:to-serving`,
        toThreads: `${this.channelId}:to-threads`,
      },
    });
    this.pool = pool;
    // A thread that fails outside a batch (it could not even start) is reported here; without a
    // listener the pool's 'error' event would throw in the caller's process.
    let failStart: ((error: Error) => void) | undefined;
    pool.on('error', (error: unknown) => failStart?.(new ServingConfigurationError(messages.workerThreadFailed(this.name, this.source.filename, messages.describeCause(error)), { cause: error })));
    try {
      await new Promise<void>((resolve, reject) => {
        failStart = reject;
        const started = new Set<number>();
        this.fromThreads.onmessage = (event) => {
          const { threadId, ok, error } = (event as unknown as { data: ThreadReady }).data;
          if (!ok) {
            const cause = fromWire(error!);
            return reject(new ServingConfigurationError(messages.workerLoadFailed(this.name, this.source.filename, messages.describeCause(cause)), { cause }));
          }
          started.add(threadId);
          if (started.size >= this.threads) resolve();
        };
      });
    } catch (error) {
      this.startError = error as Error;
      this.pool = undefined;
      await pool.destroy();
      this.fromThreads.close();
      this.toThreads.close();
      throw error;
    } finally {
      failStart = undefined;
      this.fromThreads.onmessage = (event) => this.relay((event as unknown as { data: HookMessage | ThreadReady }).data);
      this.fromThreads.unref();
    }
  }

  /** A hook event to its batch's callers; a replacement thread's ready announcement is ignored. */
  private relay(message: HookMessage | ThreadReady): void {
    if (!('batch' in message)) return;
    const batch = this.batches.get(message.batch);
    if (!batch) return;
    try {
      relayHook(batch.ctx, message);
    } finally {
      if (++batch.received >= batch.expected) batch.allReceived?.();
    }
  }

  /** The batch function of the serving: one batch on a free thread, its hook events relayed. */
  readonly run = async (values: unknown[], ctx: BatchContext): Promise<unknown[]> => {
    const pool = this.pool;
    if (!pool) throw this.startError ?? new Error(messages.workerNotStarted(this.name, 'it was closed'));
    const id = ++this.nextBatch;
    const batch: RunningBatch = { ctx, received: 0, expected: Infinity };
    this.batches.set(id, batch);
    const signal = ctx.signal;
    const abort = () => this.toThreads.postMessage({ batch: id, reason: messages.describeCause(signal.reason) });
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
    const full = ctx as FullContext;
    const task = {
      batch: id,
      values,
      partition: ctx.partition,
      batchKey: ctx.batchKey,
      size: ctx.size,
      cost: full.cost ?? ctx.size,
      attempt: full.attempt ?? 1,
      callers: ctx.callers.map(({ offset, size, context }) => ({ offset, size, context })),
    };
    try {
      const result = (await pool.run(task)) as ThreadResult;
      // Hook events travel on their own channel: the outputs wait for the last of them, so that a
      // caller sees a part's events before its outputs, as inline.
      batch.expected = result.emitted;
      if (batch.received < batch.expected) await new Promise<void>((resolve) => (batch.allReceived = resolve));
      return rebuildErrors(result.outputs);
    } catch (error) {
      if (isWireError(error)) throw fromWire(error);
      // Anything else came from piscina: the thread died (uncaught error, process.exit, out of its
      // resourceLimits) and piscina has replaced it.
      throw new Error(messages.workerCrashed(this.name, this.source.filename, messages.describeCause(error)), { cause: error });
    } finally {
      signal.removeEventListener('abort', abort);
      this.batches.delete(id);
    }
  };

  /** Ends the threads; the serving has drained before. */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    this.startError ??= new Error(messages.workerNotStarted(this.name, 'it was closed'));
    await pool?.destroy();
    this.fromThreads.close();
    this.toThreads.close();
  }
}

function relayHook(ctx: BatchContext, message: HookMessage): void {
  if ('payload' in message) return ctx.emit(message.hook, message.payload);
  const { callers } = ctx;
  ctx.emit(message.hook, (caller) => message.perCaller[callers.indexOf(caller)]);
}

/** Error outputs crossed as records: each becomes an Error again, failing only its caller. */
function rebuildErrors(outputs: unknown[]): unknown[] {
  if (!Array.isArray(outputs)) return outputs;
  for (let i = 0; i < outputs.length; i++) if (isWireError(outputs[i])) outputs[i] = fromWire(outputs[i] as WireError);
  return outputs;
}
