import { applyDecorators, Body, Param, Query } from '@nestjs/common';
import { ApiBody, ApiParam, ApiQuery, ApiResponse } from '@nestjs/swagger';
import { z } from 'zod';
import { reasonPhrase } from '../errors/error-body.js';
import { ERROR_STATUS, type ErrorCode } from '../errors/error-codes.js';
import { oauthErrorOf } from '../errors/oauth-error.js';
import { ZodValidationPipe } from '../validation/zod-validation.pipe.js';

type SchemaObject = Exclude<
  Extract<Parameters<typeof ApiBody>[0], { schema: unknown }>['schema'],
  { $ref: string }
>;

/** An OpenAPI header object: what a response header is and whether it is always sent. */
export interface HeaderObject {
  description: string;
  required?: boolean;
  schema: { type: 'string' | 'integer'; example?: string | number };
}

/**
 * Set on an operation by `@Public()`: the document builder turns it into
 * `security: []` (no access token), overriding the document's default.
 */
export const PUBLIC_OPERATION = 'x-gatehouse-public';

/**
 * One source of truth: the zod schema that validates a request is also what
 * the OpenAPI document shows for it.
 */
export function toOpenApi(schema: z.ZodType, io: 'input' | 'output' = 'input'): SchemaObject {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  delete json.$schema;
  return json;
}

type MethodDecorator = (target: object, key: string | symbol, descriptor: PropertyDescriptor) => void;

function methodOf(
  target: object,
  key: string | symbol | undefined,
): [object, string | symbol, PropertyDescriptor] {
  if (key === undefined) throw new Error('zod request decorators go on method parameters');
  return [target, key, Object.getOwnPropertyDescriptor(target, key)!];
}

/**
 * `@ZodBody(schema) body: z.output<typeof schema>` — validates the body and
 * documents it; a schema that accepts no body at all documents it as optional.
 */
export function ZodBody(schema: z.ZodType): ParameterDecorator {
  return (target, key, index) => {
    Body(new ZodValidationPipe(schema, 'body'))(target, key, index);
    ApiBody({ schema: toOpenApi(schema), required: !schema.safeParse(undefined).success })(
      ...methodOf(target, key),
    );
  };
}

/** `@ZodQuery(schema) query: …` — validates the query string and documents each parameter. */
export function ZodQuery(schema: z.ZodObject): ParameterDecorator {
  return (target, key, index) => {
    Query(new ZodValidationPipe(schema, 'query'))(target, key, index);
    const [t, k, d] = methodOf(target, key);
    for (const [name, field] of Object.entries(schema.shape)) {
      const fieldSchema = field as z.ZodType;
      (
        ApiQuery({
          name,
          required: !fieldSchema.safeParse(undefined).success,
          schema: toOpenApi(fieldSchema),
        }) as MethodDecorator
      )(t, k, d);
    }
  };
}

/** `@ZodParam('id', schema) id: string` — validates one path parameter and documents it. */
export function ZodParam(name: string, schema: z.ZodType): ParameterDecorator {
  return (target, key, index) => {
    Param(name, new ZodValidationPipe(schema, 'params'))(target, key, index);
    (ApiParam({ name, schema: toOpenApi(schema) }) as MethodDecorator)(...methodOf(target, key));
  };
}

/** Documents a success response by its zod schema (its `.meta({ example })` is the example), and its headers. */
export function ApiZodResponse(
  status: number,
  schema: z.ZodType,
  description = 'Success',
  headers?: Record<string, HeaderObject>,
): MethodDecorator {
  return ApiResponse({
    status,
    description,
    schema: toOpenApi(schema, 'output'),
    ...(headers && { headers }),
  });
}

/** Documents a success without a body (204 No Content). */
export function ApiNoContent(description: string): MethodDecorator {
  return ApiResponse({ status: 204, description });
}

/** The name of the error shape in the document's components (the document builder registers it). */
export const ERROR_SCHEMA_NAME = 'Error';

/** The one error shape of every error response. */
export const ERROR_SCHEMA: SchemaObject = {
  type: 'object',
  required: ['statusCode', 'error', 'code', 'message'],
  properties: {
    statusCode: { type: 'integer', description: 'The HTTP status, repeated' },
    error: { type: 'string', description: 'Its reason phrase' },
    code: { type: 'string', description: 'A stable machine-readable code' },
    message: { type: 'string', description: 'One human-readable sentence' },
    errors: {
      type: 'array',
      description: 'With `validation_failed`: what is wrong, field by field',
      items: {
        type: 'object',
        required: ['field', 'message'],
        properties: { field: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
};

/** The message of a documented example error (the service's own messages vary by case). */
const EXAMPLE_MESSAGES: Partial<Record<ErrorCode, string>> = {
  validation_failed: 'Request validation failed',
  missing_token: 'An access token is required',
  invalid_credentials: 'Invalid email or password',
  forbidden: 'You do not have permission to do this',
  not_found: 'Not found',
  payload_too_large: 'Request body is too large',
  unsupported_media_type: 'Request body must be JSON (Content-Type: application/json)',
  too_many_requests: 'Too many requests; try again later',
  internal_error: 'Internal server error',
  unavailable: 'Service temporarily unavailable',
};

/** The error codes a documented error response lists (read back when codes are added to it). */
export function documentedErrorCodes(response: unknown): ErrorCode[] {
  const schema = (response as { content?: Record<string, { schema?: SchemaObject }> } | undefined)?.content?.[
    'application/json'
  ]?.schema;
  const code = (schema?.properties as Record<string, { enum?: ErrorCode[] }> | undefined)?.code;
  return code?.enum ?? [];
}

/** An OpenAPI response for errors of one status: the error shape, its codes, an example. */
export function errorResponse(codes: ErrorCode[]): {
  description: string;
  content: { 'application/json': { schema: SchemaObject } };
} {
  const status = ERROR_STATUS[codes[0]!];
  const code = codes[0]!;
  const example: Record<string, unknown> = {
    statusCode: status,
    error: reasonPhrase(status),
    code,
    message: EXAMPLE_MESSAGES[code] ?? code.replaceAll('_', ' ').replace(/^./, (c) => c.toUpperCase()),
  };
  if (code === 'validation_failed') example.errors = [{ field: 'email', message: 'must be an email' }];
  return {
    description: codes.map((c) => `\`${c}\``).join(', '),
    content: {
      'application/json': {
        // The shape by reference, narrowed to the codes of this response.
        schema: {
          allOf: [{ $ref: `#/components/schemas/${ERROR_SCHEMA_NAME}` }],
          type: 'object',
          required: ERROR_SCHEMA.required,
          properties: { code: { type: 'string', enum: codes } },
          example,
        },
      },
    },
  };
}

/** Documents the error codes a route can answer with, grouped by status. */
export function ApiErrors(...codes: ErrorCode[]): MethodDecorator {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set(codes)) {
    const status = ERROR_STATUS[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return applyDecorators(
    ...[...byStatus].map(([status, group]) => ApiResponse({ status, ...errorResponse(group) })),
  );
}

/** The name of RFC 6749's error shape in the document's components (errors under /oauth/). */
export const OAUTH_ERROR_SCHEMA_NAME = 'OAuthError';

/** RFC 6749 §5.2's error shape: every error answer under /oauth/. */
export const OAUTH_ERROR_SCHEMA: SchemaObject = {
  type: 'object',
  required: ['error', 'error_description'],
  properties: {
    error: { type: 'string', description: 'An OAuth error code (RFC 6749 §5.2, RFC 6750 §3.1)' },
    error_description: { type: 'string', description: 'One human-readable sentence' },
  },
};

/** The OAuth `error` values a documented /oauth/ error response lists. */
export function documentedOAuthErrors(response: unknown): string[] {
  const schema = (response as { content?: Record<string, { schema?: SchemaObject }> } | undefined)?.content?.[
    'application/json'
  ]?.schema;
  const error = (schema?.properties as Record<string, { enum?: string[] }> | undefined)?.error;
  return error?.enum ?? [];
}

/** An OpenAPI response for /oauth/ errors of one status: RFC 6749's shape, its `error` values, an example. */
export function oauthErrorResponse(errors: string[]): {
  description: string;
  content: { 'application/json': { schema: SchemaObject } };
} {
  return {
    description: errors.map((e) => `\`${e}\``).join(', '),
    content: {
      'application/json': {
        schema: {
          allOf: [{ $ref: `#/components/schemas/${OAUTH_ERROR_SCHEMA_NAME}` }],
          type: 'object',
          required: OAUTH_ERROR_SCHEMA.required,
          properties: { error: { type: 'string', enum: errors } },
          example: { error: errors[0], error_description: errors[0]!.replaceAll('_', ' ') },
        },
      },
    },
  };
}

/** Documents the errors of an /oauth/ route by the service's codes, in RFC 6749's shape, grouped by status. */
export function ApiOAuthErrors(...codes: ErrorCode[]): MethodDecorator {
  const byStatus = new Map<number, string[]>();
  for (const code of new Set(codes)) {
    const status = ERROR_STATUS[code];
    byStatus.set(status, [...new Set([...(byStatus.get(status) ?? []), oauthErrorOf(code)])]);
  }
  return applyDecorators(
    ...[...byStatus].map(([status, errors]) => ApiResponse({ status, ...oauthErrorResponse(errors) })),
  );
}
