import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { BatchServingClient, BatchServingModule, type ServingDefinition } from 'nestjs-batch-serving';
import { natsTransport, type NatsTransport, type NatsTransportOptions, type TransportLogger } from 'nestjs-batch-serving/nats';
import { FAST } from './members';

/** Keeps what the transport logs, for the specs that look at it. */
export class RecordingTransportLogger implements TransportLogger {
  readonly lines: string[] = [];
  log = (message: string) => void this.lines.push(`log ${message}`);
  warn = (message: string) => void this.lines.push(`warn ${message}`);
  error = (message: string) => void this.lines.push(`error ${message}`);
}

export interface CallerApp {
  client: BatchServingClient;
  transport: NatsTransport;
  logger: RecordingTransportLogger;
  close(): Promise<void>;
}

/** The spec's own process as a Nest application with the NATS transport, hosting `servings` (often none). */
export async function startCallerApp(servers: string | string[], servings: ServingDefinition[] = [], options: NatsTransportOptions = {}): Promise<CallerApp> {
  const logger = new RecordingTransportLogger();
  const transport = natsTransport({ servers, ...FAST, reconnectTimeWait: 100, logger, ...options });
  @Module({ imports: [BatchServingModule.forRoot({ transport, servings, shutdown: { mode: 'drain', timeout: 5000 } })] })
  class CallerModule {}
  const app = await NestFactory.createApplicationContext(CallerModule, { logger: false });
  return { client: app.get(BatchServingClient), transport, logger, close: () => app.close() };
}
