import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { BatchServingExceptionFilter, BatchServingModule } from 'nestjs-batch-serving';
import { natsTransport } from 'nestjs-batch-serving/nats';
import { AppConfigModule } from './app-config.module';
import { APP_CONFIG, type AppConfig } from './config';
import { EventsModule } from './events/events.module';
import { embed, EMBED } from './index-jobs/embed.serving';
import { IndexJobsModule } from './index-jobs/index-jobs.module';
import { HealthModule } from './ops/health.module';
import { KeepAliveCloser } from './ops/keep-alive-closer';
import { MetricsModule } from './ops/metrics.module';
import { SearchModule } from './search/search.module';
import { SquaresModule } from './squares/squares.module';
import { squares, SQUARES } from './squares/squares.serving';

/**
 * The sample application. `register(config)` rather than reading the environment here, so that
 * tests start it on a temporary data directory; main.ts passes `configFromEnv()`.
 */
@Module({})
export class AppModule {
  static register(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        AppConfigModule.register(config),
        // Async, because the shutdown timeout comes from the config. Global by default: every
        // feature module injects BatchServingClient and @InjectServing refs without importing it.
        // The @Serving() class of events is found in its own module; embed is a worker serving.
        BatchServingModule.forRootAsync({
          inject: [APP_CONFIG],
          useFactory: ({ shutdownTimeoutMs, natsUrl }: AppConfig) => ({
            servings: [
              { ...SQUARES, serving: squares },
              { ...EMBED, serving: embed },
            ],
            shutdown: { mode: 'drain', timeout: shutdownTimeoutMs },
            // With NATS_URL, this process joins the others on that server: scale-out.
            transport: natsUrl ? natsTransport({ servers: natsUrl }) : undefined,
          }),
        }),
        MetricsModule,
        SquaresModule,
        EventsModule,
        IndexJobsModule,
        SearchModule,
        HealthModule,
      ],
      providers: [
        // A BatchServingError thrown by any route becomes its HTTP status and { statusCode, code, message }.
        { provide: APP_FILTER, useClass: BatchServingExceptionFilter },
        KeepAliveCloser,
      ],
    };
  }
}
