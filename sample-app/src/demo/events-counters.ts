/** The counters of POST /events that the load demo compares, read from the app's /metrics. */
export interface EventsCounters {
  /** SQLite transactions committed by POST /events, batched or not. */
  transactions: number;
  /** Events written. */
  rows: number;
  /** Batches the `events` serving executed (none when batching is off: those writes run inline). */
  servingBatches: number;
  /** Values in those batches. */
  servingValues: number;
}

export async function scrapeEventsCounters(url: string): Promise<EventsCounters> {
  const response = await fetch(`${url}/metrics`);
  if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
  const text = await response.text();
  return {
    transactions: sample(text, 'events_sqlite_transactions_total'),
    rows: sample(text, 'events_sqlite_rows_total'),
    servingBatches: sample(text, 'batch_serving_batches_total{serving="events",outcome="ok"}'),
    servingValues: sample(text, 'batch_serving_values_total{serving="events"}'),
  };
}

/** The value of one series of the Prometheus text format, 0 when absent. */
export function sample(metrics: string, series: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}
