import { Injectable } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { ServingConfigurationError } from '../core/errors';
import * as messages from './nest.messages';
import { getServingMetadata, servingClassOf, servingNameOf } from './serving-metadata.accessor';
import type { ServingDecoratorOptions } from './serving.decorator';

/** A `@Serving()` provider found in the application: its instance serves with its class's options. */
export interface DiscoveredServing {
  readonly name: string;
  readonly instance: unknown;
  readonly options: ServingDecoratorOptions;
  readonly origin: string;
}

/** Finds the `@Serving()` providers of every module, however they are provided or overridden. */
@Injectable()
export class ServingExplorer {
  constructor(private readonly discovery: DiscoveryService) {}

  explore(): DiscoveredServing[] {
    const found: DiscoveredServing[] = [];
    const seen = new Set<unknown>();
    for (const wrapper of this.discovery.getProviders()) {
      const servingClass = servingClassOf(wrapper);
      if (!servingClass) continue;
      const name = servingNameOf(servingClass);
      // A serving outlives every request: a scoped instance has no single object to serve with.
      if (!wrapper.isDependencyTreeStatic() || wrapper.isTransient) {
        throw new ServingConfigurationError(messages.notSingleton(name, servingClass.name));
      }
      const instance: unknown = wrapper.instance;
      // An alias (useExisting) is the same instance under a second token: still one serving.
      if (seen.has(instance)) continue;
      seen.add(instance);
      found.push({ name, instance, options: getServingMetadata(servingClass)!, origin: originOf(servingClass, instance, wrapper.host?.name) });
    }
    return found;
  }
}

/** "@Serving() class EmbedServing in AppModule", and what serves for it when a test replaced it. */
function originOf(servingClass: Function, instance: unknown, moduleName: string | undefined): string {
  const constructor = instance !== null && typeof instance === 'object' ? instance.constructor : undefined;
  const where = moduleName ? ` in ${moduleName}` : '';
  if (!constructor || constructor === servingClass) return `@Serving() class ${servingClass.name}${where}`;
  return `@Serving() class ${servingClass.name}${where}, served by ${constructor === Object ? 'a replacement value' : `class ${constructor.name}`}`;
}
