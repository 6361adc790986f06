import { Observable } from 'rxjs';
import { BatchServingError, DispatchAbortedError, InvalidInputError } from '../../core/errors';
import { SourceGuard, feed } from '../../core/feed';
import { dispatchAborted, inputsIterableFailed } from '../../core/messages';
import { DEFAULT_SERVING_OPTIONS, checkDispatchOptions } from '../../core/options';
import type { DispatchOptions, ManyInputs, ServingEvent } from '../../core/types';
import type { RemoteServing } from '../transport';
import type { Caller } from './caller';
import type { CallOptions, CallSink, RemoteCall } from './remote-call';
import type { Membership } from './membership';

/** What carrying a dispatch needs of the transport. */
export interface CarrierHost {
  readonly membership: Membership;
  /** The calling side; throws a BatchServingError when the transport is not started or is closed. */
  caller(name: string): Caller;
  /** Aborts (with a ServingShutdownError) when the transport closes: ends every wait on a caller's inputs. */
  readonly stopping: AbortSignal;
}

/**
 * Serving `name` as hosted by other members, reached through NATS. It only carries dispatches:
 * where a dispatch goes (here, or elsewhere) is the client's decision, and which member serves it
 * is membership's (by shares), unless the client already chose one (`first`, for
 * `{ distributed: true }`). Options are checked as a local dispatch's are, before anything is sent.
 */
export class NatsRemoteServing<In = unknown, Out = unknown, O = unknown> implements RemoteServing<In, Out, O> {
  constructor(
    private readonly name: string,
    private readonly host: CarrierHost,
    private readonly first?: string,
  ) {}

  dispatch(input: In, options?: DispatchOptions): Promise<Out> {
    const refused = options && checkDispatchOptions(this.name, options);
    if (refused) return Promise.reject(refused);
    return this.send([input], options, this.first, true) as Promise<Out>;
  }

  dispatchMany(inputs: ManyInputs<In>, options?: DispatchOptions): Promise<Out[]> {
    const refused = options && checkDispatchOptions(this.name, options);
    if (refused) return Promise.reject(refused);
    if (Array.isArray(inputs)) return this.send(inputs as unknown[], options, this.first, false) as Promise<Out[]>;
    return this.dispatchIterable(inputs, options);
  }

  /** Hook events and raw outputs of each part, in offset order, as the member emits them. */
  stream(inputs: ManyInputs<In>, options?: DispatchOptions): Observable<ServingEvent<O>> {
    return new Observable<ServingEvent<O>>((subscriber) => {
      const refused = options && checkDispatchOptions(this.name, options);
      if (refused) return subscriber.error(refused);
      let current: { caller: Caller; call: RemoteCall } | undefined;
      const deadline = deadlineOf(options);
      const part = (chunk: unknown[], base: number, first: string | undefined) =>
        new Promise<number>((resolve, reject) => {
          let count = 0;
          const sink: CallSink = {
            resolve: () => resolve(count),
            reject,
            hook: (hook, payload) => subscriber.next({ type: 'hook', hook, payload }),
            part: (offset, outputs) => {
              count = Math.max(count, offset + outputs.length);
              subscriber.next({ type: 'batch', offset: base + offset, outputs: outputs as O[] });
            },
          };
          const caller = this.host.caller(this.name);
          current = { caller, call: caller.call(this.name, chunk, sink, callOptions(options, deadline, first, true)) };
        });
      const guard = this.guard(options);
      const done = Array.isArray(inputs) ? part(inputs as unknown[], 0, this.first) : feed(inputs, this.chunkSize(), this.pulling(guard), (chunk, base) => part(chunk, base, undefined));
      done
        .then(
          () => subscriber.complete(),
          (error: unknown) => subscriber.error(this.fromSource(error)),
        )
        .finally(() => guard.dispose());
      return () => {
        guard.stop(new DispatchAbortedError(dispatchAborted(this.name, 'the stream was unsubscribed')));
        if (current) current.caller.cancel(current.call);
      };
    });
  }

  /** Sends `inputs` as one dispatch; `one` resolves with the single result rather than the array. */
  private send(inputs: unknown[], options: DispatchOptions | undefined, first: string | undefined, one: boolean, deadline = deadlineOf(options)): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const sink: CallSink = { resolve: one ? (results) => resolve(results[0]) : resolve, reject };
      this.host.caller(this.name).call(this.name, inputs, sink, callOptions(options, deadline, first, false));
    });
  }

  /** Chunk after chunk, each to a member picked for it; at most one chunk in flight, as locally. */
  private async dispatchIterable(inputs: ManyInputs<In>, options: DispatchOptions | undefined): Promise<Out[]> {
    const deadline = deadlineOf(options);
    const guard = this.guard(options);
    const results: Out[] = [];
    try {
      await feed(inputs, this.chunkSize(), this.pulling(guard), async (chunk) => {
        for (const result of (await this.send(chunk, options, undefined, false, deadline)) as Out[]) results.push(result);
        return chunk.length;
      });
    } catch (error) {
      throw this.fromSource(error);
    } finally {
      guard.dispose();
    }
    return results;
  }

  /** The deadline and the caller's signal of a dispatch that pulls from its inputs, as one signal. */
  private guard(options: DispatchOptions | undefined): SourceGuard {
    return new SourceGuard(this.name, options?.timeout, options?.signal);
  }

  /** What ends a wait on the inputs' next value: the dispatch's own end, or the transport closing. */
  private pulling(guard: SourceGuard): AbortSignal {
    return AbortSignal.any([guard.signal, this.host.stopping]);
  }

  private chunkSize(): number {
    return this.host.membership.batchSize(this.name) ?? DEFAULT_SERVING_OPTIONS.batchSize;
  }

  /** Anything but our own errors came from the caller's iterable: say so, typed, as locally. */
  private fromSource(error: unknown): unknown {
    if (error instanceof BatchServingError) return error;
    return new InvalidInputError(inputsIterableFailed(this.name, error), { cause: error });
  }
}

function deadlineOf(options: DispatchOptions | undefined): number | undefined {
  return options?.timeout === undefined ? undefined : performance.now() + options.timeout;
}

function callOptions(options: DispatchOptions | undefined, deadline: number | undefined, first: string | undefined, stream: boolean): CallOptions {
  return {
    // A deadline already passed still goes through the caller, which fails it on the next timer.
    timeout: deadline === undefined ? undefined : Math.max(1, deadline - performance.now()),
    signal: options?.signal,
    context: options?.context,
    priority: options?.priority,
    stream,
    first,
  };
}
