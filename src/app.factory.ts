import type { FastifyCorsOptions } from '@fastify/cors';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { type FastifyError, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type { Logger } from 'pino';
import { AppModule, type AppModuleOptions } from './app.module.js';
import { AllExceptionsFilter } from './common/errors/all-exceptions.filter.js';
import { toErrorResponse } from './common/errors/error-body.js';
import { GracefulFastifyAdapter } from './common/http/graceful-fastify-adapter.js';
import { configureCompression } from './common/http/compression.js';
import { configureHttp } from './common/http/http-setup.js';
import { requestIdFor } from './common/http/request-id.js';
import type { AppConfig } from './config/app-config.js';
import { classifyDatabaseError } from './database/postgres-errors.js';
import { setupApiDocs } from './docs/openapi.js';
import { createLogger, PinoNestLogger } from './logging/logger.js';
import { serveConsole } from './web-console/web-console.js';

/** Every method the API's routes answer to: what a browser app on an allowed origin may send. */
export const CORS_METHODS = ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE'];
/** Every request header the API reads: the bearer token, the JSON body's type, the caller's request id. */
export const CORS_REQUEST_HEADERS = ['authorization', 'content-type', 'x-request-id'];

/**
 * CORS for the origins CORS_ORIGINS lists, and for no other: a request from any
 * other origin (or without one) gets no CORS header at all, and its preflight a
 * 404. An allowed origin may use every method and header of the API (the
 * plugin's default methods are GET, HEAD and POST only) and read the headers
 * the contract sets; browsers cache the preflight answer for 10 minutes.
 */
function corsOptions(origins: string[]): FastifyCorsOptions {
  const allowed = new Set(origins);
  return {
    origin: (origin, done) => done(null, origin !== undefined && allowed.has(origin)),
    methods: CORS_METHODS,
    allowedHeaders: CORS_REQUEST_HEADERS,
    exposedHeaders: ['x-request-id', 'link', 'retry-after'],
    maxAge: 600,
  };
}

/** Request bodies larger than this are refused with 413 (the contract's default). */
export const BODY_LIMIT_BYTES = 16 * 1024;

export interface CreateAppOptions extends AppModuleOptions {
  logger?: Logger;
}

/**
 * Builds the whole application, ready to listen or to be called with
 * `app.inject()`. The service (main.ts) and the tests both start here.
 */
export async function createApp(
  config: AppConfig,
  options: CreateAppOptions = {},
): Promise<NestFastifyApplication> {
  const logger = options.logger ?? createLogger(config);
  const adapter = new GracefulFastifyAdapter({
    loggerInstance: logger,
    // On shutdown, requests already on a connection are served, not answered with Fastify's own 503.
    return503OnClosing: false,
    bodyLimit: BODY_LIMIT_BYTES,
    // X-Forwarded-For is believed only from the proxies TRUST_PROXY names.
    trustProxy: config.trustProxy.length > 0 ? config.trustProxy : false,
    genReqId: requestIdFor,
    requestIdHeader: false,
    // Fastify's two lines per request are replaced by one, written in configureHttp.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    // The router refuses a malformed URL (%C3%28) or an over-long path parameter before
    // any hook or filter runs: those answers take the contract's error shape too.
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const { body, headers } = toErrorResponse(error);
      request.errorCode = body.code;
      // No hook has run yet: the request id header is set here, as configureHttp's onRequest hook would.
      void reply.status(body.statusCode).headers(headers).header('x-request-id', request.id).send(body);
    },
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, options), adapter, {
    logger: new PinoNestLogger(logger),
    abortOnError: false,
    bodyParser: false, // JSON parsing is configured in configureHttp
  });
  await configureCompression(app); // before any route is added
  configureHttp(app);
  app.useGlobalFilters(new AllExceptionsFilter(classifyDatabaseError));
  if (config.corsOrigins.length > 0) app.enableCors(corsOptions(config.corsOrigins));
  setupApiDocs(app, config);
  await serveConsole(app);
  await app.init();
  return app;
}
