import { Inject } from '@nestjs/common';
import { SERVING_TOKEN_PREFIX } from './nest.constants';
import { recordInjectedServing } from './injected-servings';
import { servingNameOf } from './serving-metadata.accessor';
import type { ServingClass } from './serving.types';

/**
 * The injection token of the `ServingRef` of a serving: `BatchServing:<name>`, where a class
 * stands for its `@Serving()` name (default: the class name). Use it to replace the ref in tests:
 * `{ provide: getServingToken(EmbedServing), useValue: fakeRef }`.
 */
export function getServingToken(serving: string | ServingClass): string {
  return SERVING_TOKEN_PREFIX + (typeof serving === 'string' ? serving : servingNameOf(serving));
}

/**
 * Injects the `ServingRef` of a serving (a name or a `@Serving()` class) in any module. The
 * decorator records its target when the class is defined; the root module (`forRoot` /
 * `forRootAsync`) provides and exports a ref for every recorded target, so no forFeature is needed.
 */
export const InjectServing = (serving: string | ServingClass): PropertyDecorator & ParameterDecorator => {
  recordInjectedServing(serving);
  return Inject(getServingToken(serving));
};
