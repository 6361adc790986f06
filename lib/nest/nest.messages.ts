/* Error and log texts of the Nest layer: each names the serving or class, what went wrong, and the fix. */
import { describe } from '../core/messages';

export const notAHandler = (name: string, origin: string, got: unknown) =>
  `${origin} cannot serve '${name}': it has no handleBatch(values, ctx) method (got ${describe(got)}). ` +
  'Add handleBatch to the class, or give a replacement (overrideProvider, useValue) that has one.';

export const duplicateServing = (name: string, first: string, second: string) =>
  `Two servings are named '${name}': ${first} and ${second}. ` +
  "Serving names must be unique: rename one (@Serving({ name: '...' }), the forRoot entry's name or register()'s), or unregister the first.";

export const invalidServingName = (origin: string, got: unknown) =>
  `${origin} has an invalid name: ${describe(got)}. A serving name must be a non-empty string.`;

export const notSingleton = (name: string, className: string) =>
  `@Serving() class ${className} ('${name}') is request-scoped or transient; a serving lives as long as the application. ` +
  'Remove the scope from the class, and keep per-request data in the dispatch { context } instead.';

export const invalidShutdown = (option: string, value: unknown, rule: string) =>
  `BatchServingModule has an invalid shutdown.${option}: ${describe(value)}. It must be ${rule}.`;

export const registryClosed = (name: string) =>
  `Cannot register serving '${name}': the application is shutting down.`;

export const notRegistered = (name: string, known: readonly string[]) =>
  `Cannot unregister serving '${name}': it is not running here` +
  (known.length ? ` (running: ${known.map((n) => `'${n}'`).join(', ')}).` : '.');

export const onlyLocal = (name: string, what: string) =>
  `Serving '${name}' is not hosted in this process, and ${what} only covers servings hosted here.`;

export const closedBeforeReady = () =>
  'BatchServingModule never started its servings: the application closed before it initialised.';

export const clientNotFound = (serving: string) =>
  `The ServingRef of '${serving}' found no BatchServingClient: import BatchServingModule.forRoot() (or forRootAsync()) in the application.`;

export const featureWithoutRoot = (servings: readonly string[]) =>
  `BatchServingModule.forFeature([${servings.map((s) => `'${s}'`).join(', ')}]) found no BatchServingModule.forRoot() in the application. ` +
  'Import BatchServingModule.forRoot() (or forRootAsync()) once, in the root module.';

export const notAServingClass = (className: string) =>
  `@InjectServing(${className}) or forFeature([${className}]) names class ${className}, which is not a @Serving(). ` +
  `Decorate ${className} with @Serving(), or name a serving by its string: @InjectServing('name').`;

// ---- log lines ---------------------------------------------------------------------------------

export const started = (name: string, options: object, origin: string) =>
  `Serving '${name}' started (${origin}): ` +
  Object.entries(options)
    .map(([key, value]) => `${key} ${value === undefined ? 'none' : typeof value === 'object' ? describe(value) : String(value)}${value !== undefined && /timeout/i.test(key) ? ' ms' : ''}`)
    .join(', ');

export const stopping = (count: number, mode: string, timeout: number) =>
  `Stopping ${count} serving(s): ${mode === 'drain' ? 'draining queued and running work' : 'rejecting queued work'}, for up to ${timeout} ms.`;

export const stopped = (count: number, ms: number) => `Stopped ${count} serving(s) in ${Math.round(ms)} ms.`;

export const unregistered = (name: string) => `Serving '${name}' stopped and unregistered.`;

export const batchFailedLog = (name: string, size: number, partition: number, error: unknown) =>
  `Serving '${name}' failed a batch of ${size} value(s) on partition ${partition}: ${describe(error)}`;

export const transportUnhostFailed = (name: string, error: unknown) =>
  `The transport could not withdraw serving '${name}' from its group; stopping it anyway: ${describe(error)}`;
