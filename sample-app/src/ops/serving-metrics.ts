import { Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { BatchServingClient, type BatchTelemetryEvent } from 'nestjs-batch-serving';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Subscription } from 'rxjs';

const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128];

/**
 * Prometheus metrics of every serving, labelled `serving`: counters and histograms are fed by the
 * client's telemetry (one event per finished batch), the queue gauges read the stats at scrape time.
 */
@Injectable()
export class ServingMetrics implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly batches: Counter<'serving' | 'outcome'>;
  private readonly values: Counter<'serving'>;
  private readonly batchSize: Histogram<'serving'>;
  private readonly queueWait: Histogram<'serving'>;
  private readonly runTime: Histogram<'serving'>;
  private subscription: Subscription | undefined;

  constructor(
    private readonly client: BatchServingClient,
    registry: Registry,
  ) {
    const registers = [registry];
    const labelNames = ['serving'] as const;
    this.batches = new Counter({ name: 'batch_serving_batches_total', help: 'Batches executed, by outcome (ok, failed)', labelNames: ['serving', 'outcome'], registers });
    this.values = new Counter({ name: 'batch_serving_values_total', help: 'Values executed in batches', labelNames, registers });
    this.batchSize = new Histogram({ name: 'batch_serving_batch_size', help: 'Values per executed batch', labelNames, buckets: SIZE_BUCKETS, registers });
    this.queueWait = new Histogram({ name: 'batch_serving_queue_wait_seconds', help: 'Wait of the first value of a batch, from dispatch to execution', labelNames, buckets: SECONDS_BUCKETS, registers });
    this.runTime = new Histogram({ name: 'batch_serving_run_seconds', help: 'Run time of the batch function', labelNames, buckets: SECONDS_BUCKETS, registers });
    const stats = () => this.client.stats();
    new Gauge({
      name: 'batch_serving_queued_values',
      help: 'Values waiting for a batch now (queue depth)',
      labelNames,
      registers,
      collect() {
        for (const [serving, s] of Object.entries(stats())) this.set({ serving }, s.queued);
      },
    });
    new Gauge({
      name: 'batch_serving_executing_values',
      help: 'Values in batches executing now',
      labelNames,
      registers,
      collect() {
        for (const [serving, s] of Object.entries(stats())) this.set({ serving }, s.executing);
      },
    });
  }

  onApplicationBootstrap(): void {
    // Every serving shows up with zeros from the start, not only after its first batch.
    for (const serving of Object.keys(this.client.stats())) {
      for (const outcome of ['ok', 'failed']) this.batches.inc({ serving, outcome }, 0);
      this.values.inc({ serving }, 0);
      for (const histogram of [this.batchSize, this.queueWait, this.runTime]) histogram.zero({ serving });
    }
    this.subscription = this.client.telemetry().subscribe((event) => this.record(event));
  }

  // Not earlier: the servings drain in beforeApplicationShutdown, and those batches count too.
  onApplicationShutdown(): void {
    this.subscription?.unsubscribe();
  }

  private record(event: BatchTelemetryEvent): void {
    if (event.type === 'start') return;
    const serving = event.serving;
    this.batches.inc({ serving, outcome: event.type === 'stop' ? 'ok' : 'failed' });
    this.values.inc({ serving }, event.size);
    this.batchSize.observe({ serving }, event.size);
    this.queueWait.observe({ serving }, event.waitMs / 1000);
    this.runTime.observe({ serving }, (event.runMs ?? 0) / 1000);
  }
}
