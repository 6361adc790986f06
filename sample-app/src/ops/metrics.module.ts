import { Global, Module } from '@nestjs/common';
import { Registry } from 'prom-client';
import { MetricsController } from './metrics.controller';
import { ServingMetrics } from './serving-metrics';

/**
 * One prom-client Registry per application, injectable everywhere by its class, rather than the
 * library's global one: two apps in one process (as in the tests) never register a metric twice.
 */
@Global()
@Module({
  controllers: [MetricsController],
  providers: [{ provide: Registry, useFactory: () => new Registry() }, ServingMetrics],
  exports: [Registry],
})
export class MetricsModule {}
