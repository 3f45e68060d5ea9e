import { writeFileSync } from 'node:fs';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { OpenAPIObject } from '@nestjs/swagger';
import { AppModule } from './app.module.js';
import { type AppConfig, ConfigError, loadConfig } from './config/app-config.js';
import { buildOpenApiDocument } from './docs/openapi.js';

/**
 * The OpenAPI document the service serves at /docs/openapi.json, built
 * without a database: Nest's preview mode reads the module tree and the
 * controllers' decorators but constructs no provider (no connection, no
 * key, no DATA_DIR). The same function builds it as the running service does.
 */
export async function createOpenApiDocument(config: AppConfig): Promise<OpenAPIObject> {
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config),
    new FastifyAdapter(),
    {
      preview: true,
      logger: false,
    },
  );
  try {
    return buildOpenApiDocument(app, config);
  } finally {
    await app.close();
  }
}

/** `node dist/openapi-document.js [file]`: writes the document (to stdout without a file), for linters. */
async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`gatehouse: ${error.message}\n`);
    process.exit(1);
  }
  const json = `${JSON.stringify(await createOpenApiDocument(config), null, 2)}\n`;
  const file = process.argv[2];
  if (file) writeFileSync(file, json);
  else process.stdout.write(json);
}

// Run as a script, not when imported (the tests compare it with the served document).
if (import.meta.url === `file://${process.argv[1]}`) await main();
