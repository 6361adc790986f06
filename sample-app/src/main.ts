import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import { AppModule } from './app.module';
import { configFromEnv } from './config';

async function bootstrap(): Promise<void> {
  const config = configFromEnv();
  const app = await NestFactory.create(AppModule.register(config));
  // On SIGTERM/SIGINT Nest runs app.close(): the servings drain (queued values run at once) while
  // the HTTP server still answers the requests that wait for them, and only then does it close.
  app.enableShutdownHooks();
  await app.listen(config.port);
  const { port } = app.getHttpServer().address() as AddressInfo;
  Logger.log(`listening on http://localhost:${port} (data in ${config.dataDir})`, 'SampleApp');
}

bootstrap().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
