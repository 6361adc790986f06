import { Inject } from '@nestjs/common';
import { SERVING_TOKEN_PREFIX } from './nest.constants';
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
 * Injects the `ServingRef` of a serving. Its provider comes from `forRoot({ servings })` for the
 * servings listed there, and from `BatchServingModule.forFeature([...])` for any other.
 */
export const InjectServing = (serving: string | ServingClass): PropertyDecorator & ParameterDecorator =>
  Inject(getServingToken(serving));
