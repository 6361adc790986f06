import type { RunningServing } from '../core/running-serving';
import type { ServingClass } from './serving.types';

/** How many times what routes to this process changed (a serving registered or forgotten): the registry's. */
export class RouteEpoch {
  generation = 0;
}

/**
 * A short route: dispatches to `key` go straight to `running`, hosted here, while `epoch` is at
 * `generation`. The client keeps its last one and each ServingRef its own, so that the common call
 * (a serving hosted here, not `distributed`) skips `route` and the readiness check.
 */
export class HostedRoute {
  constructor(
    readonly key: string | ServingClass,
    readonly running: RunningServing | undefined,
    readonly epoch: RouteEpoch,
    readonly generation: number,
  ) {}
}

/** No short route: never current (no serving is named ''; its epoch never reaches -1). */
export const NO_ROUTE = new HostedRoute('', undefined, new RouteEpoch(), -1);
