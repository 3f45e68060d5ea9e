import { applyDecorators, Body, Param, Query } from '@nestjs/common';
import { ApiBody, ApiParam, ApiQuery, ApiResponse } from '@nestjs/swagger';
import { z } from 'zod';
import { ERROR_STATUS, type ErrorCode } from '../errors/error-codes.js';
import { ZodValidationPipe } from '../validation/zod-validation.pipe.js';

type SchemaObject = Exclude<
  Extract<Parameters<typeof ApiBody>[0], { schema: unknown }>['schema'],
  { $ref: string }
>;

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

/** `@ZodBody(schema) body: z.output<typeof schema>` — validates the body and documents it. */
export function ZodBody(schema: z.ZodType): ParameterDecorator {
  return (target, key, index) => {
    Body(new ZodValidationPipe(schema, 'body'))(target, key, index);
    ApiBody({ schema: toOpenApi(schema) })(...methodOf(target, key));
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

/** Documents a success response by its zod schema. */
export function ApiZodResponse(status: number, schema: z.ZodType, description = 'Success'): MethodDecorator {
  return ApiResponse({ status, description, schema: toOpenApi(schema, 'output') });
}

const errorSchema: SchemaObject = {
  type: 'object',
  required: ['statusCode', 'error', 'code', 'message'],
  properties: {
    statusCode: { type: 'integer' },
    error: { type: 'string' },
    code: { type: 'string' },
    message: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        properties: { field: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
};

/** Documents the error codes a route can answer with, grouped by status. */
export function ApiErrors(...codes: ErrorCode[]): MethodDecorator {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = ERROR_STATUS[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return applyDecorators(
    ...[...byStatus].map(([status, group]) =>
      ApiResponse({
        status,
        description: group.map((code) => `\`${code}\``).join(', '),
        schema: {
          ...errorSchema,
          properties: { ...errorSchema.properties, code: { type: 'string', enum: group } },
        },
      }),
    ),
  );
}
