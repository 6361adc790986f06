import type { Observable } from 'rxjs';
import type { RunningServing } from '../core/running-serving';
import type { DispatchOptions, ManyInputs, ServingEvent } from '../core/types';

/**
 * A serving reached through a transport: the dispatching methods of `RunningServing`, with the
 * same results, errors (same class and `code`), ordering and stream events as a local one.
 */
export interface RemoteServing<In = unknown, Out = unknown, O = unknown> {
  dispatch(input: In, options?: DispatchOptions): Promise<Out>;
  dispatchMany(inputs: ManyInputs<In>, options?: DispatchOptions): Promise<Out[]>;
  stream(inputs: ManyInputs<In>, options?: DispatchOptions): Observable<ServingEvent<O>>;
}

/**
 * The seam between `BatchServingModule` and the network (the NATS transport implements it).
 * Without a transport every serving is in-process. The module calls, in this order:
 * `start()` at init; `host()` for every serving started here (at init, and on
 * `BatchServingRegistry.register`); `unhost()` before a serving drains (on `unregister`, and at
 * shutdown before the drain, so that other members stop sending while the HTTP server still answers);
 * `close()` in `onApplicationShutdown`, after every serving stopped.
 *
 * The client decides where a dispatch goes (its one routing policy); the transport only carries
 * it. The client asks `remote(name)` for a serving not hosted here, unless the dispatch says
 * `{ local: true }`; for `{ distributed: true }` it asks `turn(name)` whose turn it is among all
 * members of the group by shares, this process included.
 */
export interface ServingTransport {
  /** Connects. Init fails when it rejects. */
  start(): Promise<void> | void;
  /** This process now runs `serving`: join its group (by name) so that other members can dispatch to it. */
  host(serving: RunningServing): Promise<void> | void;
  /** This process stops running serving `name`: leave its group; work already accepted still completes. */
  unhost(name: string): Promise<void> | void;
  /** A handle on serving `name` as hosted by other members; its dispatches fail with a BatchServingError when none can serve. */
  remote(name: string): RemoteServing;
  /**
   * For `{ distributed: true }` when this process hosts `name` too: the member whose turn it is,
   * by shares, or undefined when it is this process's. Without it, distributed dispatches stay here.
   */
  turn?(name: string): RemoteServing | undefined;
  /** Releases connections and timers: nothing of the transport may keep the process alive afterwards. Called once, if `start()` was. */
  close(): Promise<void> | void;
}
