import { Observable } from 'rxjs';
import { BatchServingError, DispatchAbortedError, InvalidInputError, ServingNotFoundError } from '../../core/errors';
import { SourceGuard, chunksOf } from '../../core/feed';
import { sse } from '../../core/stream-dispatch';
import { dispatchAborted, inputsIterableFailed, servingNotLocal } from '../../core/messages';
import { DEFAULT_SERVING_OPTIONS } from '../../core/options';
import type { RunningServing } from '../../core/running-serving';
import type { DispatchOptions, ManyInputs, ServingEvent } from '../../core/types';
import type { RemoteServing } from '../transport';
import type { Caller } from './caller';
import type { CallOptions, CallSink, RemoteCall } from './remote-call';
import type { Membership } from './membership';

/** What routing needs of the transport. */
export interface RouteHost {
  readonly membership: Membership;
  /** The running serving `name` of this process, if it hosts it. */
  local(name: string): RunningServing | undefined;
  /** The calling side; throws a BatchServingError when the transport is not started or is closed. */
  caller(name: string): Caller;
}

/**
 * Serving `name` as reached through NATS, with the routing rules of the transport: `{ local: true }`
 * never leaves the process; `{ distributed: true }` picks among all members by shares, this process
 * included; otherwise this process serves when it hosts the serving (local first), and a member
 * elsewhere when it does not.
 */
export class NatsRemoteServing<In = unknown, Out = unknown, O = unknown> implements RemoteServing<In, Out, O> {
  constructor(
    private readonly name: string,
    private readonly host: RouteHost,
  ) {}

  dispatch(input: In, options?: DispatchOptions): Promise<Out> {
    let target: RunningServing | string | undefined;
    try {
      target = this.route(options);
      if (typeof target === 'object') return target.dispatch(input, options) as Promise<Out>;
    } catch (error) {
      return Promise.reject(error);
    }
    return this.send([input], options, target, true) as Promise<Out>;
  }

  dispatchMany(inputs: ManyInputs<In>, options?: DispatchOptions): Promise<Out[]> {
    let target: RunningServing | string | undefined;
    try {
      target = this.route(options);
      if (typeof target === 'object') return target.dispatchMany(inputs, options) as Promise<Out[]>;
    } catch (error) {
      return Promise.reject(error);
    }
    if (Array.isArray(inputs)) return this.send(inputs as unknown[], options, target, false) as Promise<Out[]>;
    return this.dispatchIterable(inputs, options);
  }

  /** Hook events and raw outputs of each part, in offset order, as the member emits them. */
  stream(inputs: ManyInputs<In>, options?: DispatchOptions): Observable<ServingEvent<O>> {
    return new Observable<ServingEvent<O>>((subscriber) => {
      let target: RunningServing | string | undefined;
      try {
        target = this.route(options);
      } catch (error) {
        subscriber.error(error);
        return undefined;
      }
      if (typeof target === 'object') return (target.stream(inputs, options) as Observable<ServingEvent<O>>).subscribe(subscriber);
      let current: { caller: Caller; call: RemoteCall } | undefined;
      let stopped = false;
      const deadline = deadlineOf(options);
      const part = (chunk: unknown[], base: number, first: string | undefined) =>
        new Promise<void>((resolve, reject) => {
          const sink: CallSink = {
            resolve: () => resolve(),
            reject,
            hook: (hook, payload) => subscriber.next(sse({ type: 'hook', hook, payload })),
            part: (offset, outputs) => subscriber.next(sse({ type: 'batch', offset: base + offset, outputs: outputs as O[] })),
          };
          const caller = this.host.caller(this.name);
          current = { caller, call: caller.call(this.name, chunk, sink, callOptions(options, deadline, first, true)) };
        });
      const guard = new SourceGuard(this.name, options?.timeout, options?.signal);
      const done = Array.isArray(inputs)
        ? part(inputs as unknown[], 0, target)
        : (async () => {
            let base = 0;
            for await (const chunk of chunksOf(inputs, this.chunkSize(), guard.signal)) {
              if (stopped) return;
              await part(chunk, base, undefined);
              base += chunk.length;
            }
          })();
      done
        .then(
          () => subscriber.complete(),
          (error: unknown) => subscriber.error(this.fromSource(error)),
        )
        .finally(() => guard.dispose());
      return () => {
        stopped = true;
        guard.stop(new DispatchAbortedError(dispatchAborted(this.name, 'the stream was unsubscribed')));
        if (current) current.caller.cancel(current.call);
      };
    });
  }

  /** A running serving to call here, a member chosen already, or undefined to let the caller pick. */
  private route(options: DispatchOptions | undefined): RunningServing | string | undefined {
    const local = this.host.local(this.name);
    if (options?.local) {
      if (local) return local;
      throw new ServingNotFoundError(servingNotLocal(this.name));
    }
    if (!local) return undefined;
    if (!options?.distributed) return local;
    const member = this.host.membership.pick(this.name, undefined, true);
    return member === undefined || member === this.host.membership.self ? local : member;
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
    // Ends the wait on a source that stops yielding, at the deadline or on the caller's signal.
    const guard = new SourceGuard(this.name, options?.timeout, options?.signal);
    const results: Out[] = [];
    try {
      for await (const chunk of chunksOf(inputs, this.chunkSize(), guard.signal)) {
        for (const result of (await this.send(chunk, options, undefined, false, deadline)) as Out[]) results.push(result);
      }
    } catch (error) {
      throw this.fromSource(error);
    } finally {
      guard.dispose();
    }
    return results;
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
    stream,
    first,
  };
}
