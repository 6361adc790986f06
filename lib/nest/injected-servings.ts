import type { ServingClass } from './serving.types';

/*
 * Every serving named by an `@InjectServing()`, recorded when the decorated class is defined
 * (as nestjs-pino records `@InjectPinoLogger`). The root module provides a ref for each, so that
 * `@InjectServing(X)` needs no forFeature. The set only grows: a decorator runs once per class.
 */
const injected = new Set<string | ServingClass>();

/** Records `serving` as named by an `@InjectServing()`. */
export function recordInjectedServing(serving: string | ServingClass): void {
  injected.add(serving);
}

/** The servings named by an `@InjectServing()` so far, in the order they were first met. */
export function injectedServings(): Array<string | ServingClass> {
  return [...injected];
}
