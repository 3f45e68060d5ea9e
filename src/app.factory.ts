import type { FastifyCorsOptions } from '@fastify/cors';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { type FastifyError, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type { Logger } from 'pino';
import { AppModule, type AppModuleOptions } from './app.module.js';
import { AllExceptionsFilter } from './common/errors/all-exceptions.filter.js';
import { toErrorResponse } from './common/errors/error-body.js';
import { isOAuthPath, toOAuthErrorBody } from './common/errors/oauth-error.js';
import { GracefulFastifyAdapter } from './common/http/graceful-fastify-adapter.js';
import { configureCompression } from './common/http/compression.js';
import { configureHttp } from './common/http/http-setup.js';
import { isTrustedOrigin, trustedOrigins } from './common/http/origins.js';
import { configureSecurityHeaders, pathOf, securityHeaders } from './common/http/security-headers.js';
import { requestIdFor } from './common/http/request-id.js';
import type { AppConfig } from './config/app-config.js';
import { classifyDatabaseError } from './database/postgres-errors.js';
import { setupApiDocs } from './docs/openapi.js';
import { createLogger, PinoNestLogger } from './logging/logger.js';
import { serveConsole } from './web-console/web-console.js';

/** Every method the API's routes answer to: what a browser app on a trusted origin may send. */
export const CORS_METHODS = ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE', 'OPTIONS'];
/** Every request header the API reads: the bearer token, the JSON body's type, the caller's request id. */
export const CORS_REQUEST_HEADERS = ['authorization', 'content-type', 'x-request-id'];
/** The response headers a browser app may read: the request id, paging, throttling, a 401's challenge. */
export const CORS_EXPOSED_HEADERS = ['x-request-id', 'link', 'retry-after', 'www-authenticate'];

/**
 * CORS for the trusted origins (PUBLIC_URL's and those CORS_ORIGINS lists),
 * and for no other: a request from any other origin (or without one) gets no
 * CORS header at all, and its preflight a 404. A trusted origin may use every
 * method and header of the API (the plugin's default methods are GET, HEAD and
 * POST only), with credentials (the refresh cookie of cookie mode), and read
 * the headers the contract sets; the allowed origin is always the request's
 * own, never `*`. Browsers cache the preflight answer for 10 minutes.
 */
function corsOptions(config: AppConfig): FastifyCorsOptions {
  const trusted = trustedOrigins(config);
  return {
    origin: (origin, done) => done(null, isTrustedOrigin(origin, trusted)),
    methods: CORS_METHODS,
    allowedHeaders: CORS_REQUEST_HEADERS,
    exposedHeaders: CORS_EXPOSED_HEADERS,
    credentials: true,
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
  const headersFor = securityHeaders(config);
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
      // No hook has run yet: the security and request id headers are set here, as the onRequest hooks would.
      void reply
        .status(body.statusCode)
        .headers(headersFor(pathOf(request.url)))
        .headers(headers)
        .header('x-request-id', request.id)
        .send(isOAuthPath(request.url) ? toOAuthErrorBody(body) : body);
    },
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, options), adapter, {
    logger: new PinoNestLogger(logger),
    abortOnError: false,
    bodyParser: false, // JSON parsing is configured in configureHttp
  });
  configureSecurityHeaders(app, config); // as each response is sent: every response carries them
  await configureCompression(app); // before any route is added
  configureHttp(app);
  app.useGlobalFilters(new AllExceptionsFilter(classifyDatabaseError));
  // Without CORS_ORIGINS only PUBLIC_URL's own pages call the API: same-origin, no CORS needed.
  if (config.corsOrigins.length > 0) app.enableCors(corsOptions(config));
  // Before the documentation's routes: awaited after them, it left their errors (/docs/LICENSE's
  // 404) outside the error filter's shape.
  await serveConsole(app);
  setupApiDocs(app, config);
  await app.init();
  return app;
}
