import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import { SERVING_METADATA } from './nest.constants';
import type { ServingDecoratorOptions } from './serving.decorator';

/*
 * Reads back what @Serving() stored. Plain functions rather than an injectable: getServingToken
 * needs them at decoration time, outside of any injector.
 */

/** The `@Serving()` options of `target`, or undefined when it is not a decorated class. */
export function getServingMetadata(target: unknown): ServingDecoratorOptions | undefined {
  if (typeof target !== 'function') return undefined;
  const options: unknown = Reflect.getMetadata(SERVING_METADATA, target);
  return options !== null && typeof options === 'object' ? (options as ServingDecoratorOptions) : undefined;
}

const names = new WeakMap<object, string>();

/** The serving name of a class: its `@Serving({ name })`, else the class name. Cached: dispatch asks every time. */
export function servingNameOf(target: Function): string {
  let name = names.get(target);
  if (name === undefined) names.set(target, (name = getServingMetadata(target)?.name ?? target.name));
  return name;
}

/**
 * The `@Serving()` class a provider stands for. The token comes first: a provider overridden in
 * a TestingModule (`overrideProvider(EmbedServing).useValue(fake)`) keeps the class as its token
 * and serves with that class's options. Then the class it was built from (`useClass`, a plain
 * class provider), then the constructor of the instance (`useValue`, `useFactory`, whose
 * metatype is the factory function, not the class).
 */
export function servingClassOf(wrapper: InstanceWrapper): Function | undefined {
  if (getServingMetadata(wrapper.token)) return wrapper.token as Function;
  if (!wrapper.inject && getServingMetadata(wrapper.metatype)) return wrapper.metatype as Function;
  const instance: unknown = wrapper.instance;
  const constructor = instance !== null && typeof instance === 'object' ? instance.constructor : undefined;
  return getServingMetadata(constructor) ? constructor : undefined;
}
