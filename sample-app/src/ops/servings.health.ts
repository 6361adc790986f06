import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { BatchServingRegistry } from 'nestjs-batch-serving';

/**
 * Reports every serving of this process: its state and queue. Up while every serving runs; down
 * from the moment shutdown starts draining, so that a load balancer stops sending traffic.
 */
@Injectable()
export class ServingsHealthIndicator {
  constructor(
    private readonly registry: BatchServingRegistry,
    private readonly health: HealthIndicatorService,
  ) {}

  check<const Key extends string>(key: Key): HealthIndicatorResult<Key> {
    const indicator = this.health.check(key);
    const servings: Record<string, unknown> = {};
    let allRunning = true;
    for (const name of this.registry.list()) {
      const running = this.registry.get(name)!;
      const { queued, executing, batches, failures, meanBatchSize } = running.stats();
      const { batchSize, batchTimeout, partitions } = running.options;
      servings[name] = { state: running.state, queued, executing, batches, failures, meanBatchSize, batchSize, batchTimeout, partitions };
      allRunning &&= running.state === 'running';
    }
    return allRunning ? indicator.up(servings) : indicator.down(servings);
  }
}
