import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { ERROR_STATUS, type ErrorCode } from '../common/errors/error-codes.js';
import {
  documentedErrorCodes,
  ERROR_SCHEMA,
  ERROR_SCHEMA_NAME,
  errorResponse,
  PUBLIC_OPERATION,
} from '../common/openapi/zod-openapi.js';
import type { AppConfig } from '../config/app-config.js';
import { refreshCookiePolicy } from '../auth/refresh-cookies.js';

/** The document's tags, in the order the reference shows them. */
const TAGS: [name: string, description: string][] = [
  ['auth', 'Signup, signin, token refresh, signout and password change'],
  ['sessions', "The caller's sessions: one per signin (device)"],
  ['mfa', 'Multi-factor authentication: an authenticator app (TOTP) and recovery codes'],
  ['users', 'The signed-in user, and users administration (admin role)'],
  ['audit', 'The security events log (admin role)'],
  ['keys', 'The keys that verify access tokens, the issuer metadata, and key rotation and revocation'],
  ['health', 'Liveness and readiness probes'],
  ['operations', 'Prometheus metrics'],
];

type Operation = Record<string, unknown> & {
  security?: Record<string, string[]>[];
  requestBody?: unknown;
  responses: Record<string, Record<string, unknown> & { headers?: Record<string, unknown> }>;
};

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/**
 * Fastify reads a body on these methods whatever the route: a body that is
 * not JSON (415), too large (413) or malformed (400) is refused before any
 * guard or handler runs.
 */
const BODY_METHODS = new Set(['post', 'put', 'patch', 'delete']);
const BODY_ERRORS: ErrorCode[] = ['validation_failed', 'payload_too_large', 'unsupported_media_type'];

/** Response headers that every response, or every response of a status, carries. */
const HEADERS = {
  'X-Request-Id': {
    description:
      "The request's id, also in the service's log line for it: the caller's own `X-Request-Id` when it " +
      'is short and printable (1–128 characters of letters, digits and `_.:@/+=-`), otherwise a new UUID',
    required: true,
    schema: { type: 'string', example: '5f0c6a5e-2d1b-4c8e-9a57-0b1c2d3e4f50' },
  },
  'Retry-After': {
    description: 'Seconds to wait before trying again',
    schema: { type: 'integer', example: 30 },
  },
  'Cache-Control': {
    description:
      '`no-store` on every response whose route documents no other value: no browser or proxy keeps a ' +
      'token, a profile or any other answer',
    required: true,
    schema: { type: 'string', example: 'no-store' },
  },
  'WWW-Authenticate': {
    description:
      'RFC 6750: `Bearer realm="gatehouse"`, with `error="invalid_token"` and an `error_description` when ' +
      'the token presented (access or refresh token) was refused',
    required: true,
    schema: { type: 'string', example: 'Bearer realm="gatehouse", error="invalid_token"' },
  },
};

/** Builds the OpenAPI 3 document from the controllers' decorators and zod schemas. */
export function buildOpenApiDocument(app: INestApplication, config: AppConfig): OpenAPIObject {
  const builder = new DocumentBuilder()
    .setTitle('Gatehouse')
    .setDescription(
      'Token-based authentication and role-based authorization. Every route needs ' +
        '`Authorization: Bearer <access token>` unless it is marked public. Errors share one shape: ' +
        '`{ statusCode, error, code, message, errors? }`. Every response carries `X-Request-Id`, ' +
        '`X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY` and, when ' +
        'PUBLIC_URL is https, `Strict-Transport-Security`. Browser apps: see cookie mode (`?cookie=1` on the ' +
        'routes that issue tokens).',
    )
    .setVersion('0.1.0')
    .setLicense('MIT', 'https://opensource.org/license/mit')
    .addServer(config.publicUrl, 'This deployment (PUBLIC_URL)')
    .addBearerAuth(
      { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'An access token' },
      'bearer',
    )
    .addBearerAuth(
      { type: 'http', scheme: 'bearer', description: 'A refresh token (POST /auth/refresh only)' },
      'refreshToken',
    )
    .addBearerAuth(
      { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN (GET /metrics, when it is set)' },
      'metricsToken',
    )
    .addApiKey(
      {
        type: 'apiKey',
        in: 'cookie',
        name: refreshCookiePolicy(config.publicUrl).name,
        description:
          "Cookie mode's refresh cookie (POST /auth/refresh only), with an `Origin` header naming PUBLIC_URL " +
          'or one of CORS_ORIGINS',
      },
      'refreshCookie',
    )
    // Secure by default, as the service is: an operation without its own requirement needs an access token.
    .addSecurityRequirements('bearer');
  for (const [name, description] of TAGS) builder.addTag(name, description);
  return completeDocument(SwaggerModule.createDocument(app, builder.build()));
}

/**
 * What holds for every operation, written into each rather than into each
 * controller: public operations ask for no token, body methods can be refused
 * for their body, every response carries X-Request-Id, and 429 and 503 say
 * when to retry.
 */
function completeDocument(document: OpenAPIObject): OpenAPIObject {
  document.components = {
    ...document.components,
    schemas: { ...document.components?.schemas, [ERROR_SCHEMA_NAME]: ERROR_SCHEMA },
    headers: HEADERS,
  };
  for (const item of Object.values(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method] as Operation | undefined;
      if (!operation) continue;
      if (operation[PUBLIC_OPERATION]) {
        delete operation[PUBLIC_OPERATION];
        // No token; or, where a credential other than an access token may come, that one as an alternative.
        operation.security = operation.security?.length ? [{}, ...operation.security] : [];
      }
      if (BODY_METHODS.has(method)) addErrors(operation, BODY_ERRORS);
      // Whatever fails unexpectedly (a bug) answers in the error shape, with no detail.
      addErrors(operation, ['internal_error']);
      const responses: Operation['responses'] = {};
      for (const status of Object.keys(operation.responses).sort()) {
        const response = operation.responses[status]!;
        const errorShape = documentedErrorCodes(response).length > 0;
        response.headers = {
          ...response.headers,
          'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' },
          ...(!hasHeader(response, 'Cache-Control') && {
            'Cache-Control': { $ref: '#/components/headers/Cache-Control' },
          }),
          ...(status === '401' &&
            errorShape && { 'WWW-Authenticate': { $ref: '#/components/headers/WWW-Authenticate' } }),
          ...(status === '429' && { 'Retry-After': { ...HEADERS['Retry-After'], required: true } }),
          ...(status === '503' && { 'Retry-After': { $ref: '#/components/headers/Retry-After' } }),
        };
        responses[status] = response;
      }
      operation.responses = responses;
    }
  }
  return document;
}

function hasHeader(response: { headers?: Record<string, unknown> }, name: string): boolean {
  return Object.keys(response.headers ?? {}).some((header) => header.toLowerCase() === name.toLowerCase());
}

/** Adds error codes to an operation's documented responses, merged with the codes already there. */
function addErrors(operation: Operation, codes: ErrorCode[]): void {
  const byStatus = new Map<string, ErrorCode[]>();
  for (const code of codes) {
    const status = String(ERROR_STATUS[code]);
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  for (const [status, added] of byStatus) {
    const existing = documentedErrorCodes(operation.responses[status]);
    operation.responses[status] = errorResponse([...new Set([...existing, ...added])]);
  }
}

/** Serves the interactive page at /docs and the document at /docs/openapi.json. */
export function setupApiDocs(app: INestApplication, config: AppConfig): void {
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app, config), {
    jsonDocumentUrl: 'docs/openapi.json',
    yamlDocumentUrl: 'docs/openapi.yaml',
    customSiteTitle: 'Gatehouse API',
  });
}
