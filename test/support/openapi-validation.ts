import type { NestFastifyApplication } from '@nestjs/platform-fastify';
// Ajv used directly: the document is compiled once and its operations lazily (openapi-backend compiled every operation up front, ~11 s).
import { Ajv, type ValidateFunction } from 'ajv';
import type { AppConfig } from '../../src/config/app-config.js';
import { APP_CONFIG } from '../../src/config/config.module.js';
import { buildOpenApiDocument } from '../../src/docs/openapi.js';

/**
 * Every response an end-to-end test gets through `Http` is held to the app's
 * own OpenAPI document (what /docs/openapi.json serves: the same builder on
 * the same app, without a request of its own that would show in the test's
 * logs and metrics). A response to a documented method and path must have a
 * documented status, a documented media type, a body that matches the
 * schema, every header documented as required, and no meaningful header the
 * document does not name. The document can never drift from the service.
 */

/** Response headers that carry meaning for a client: sent, they must be documented. */
const MEANINGFUL_HEADERS = [
  'x-request-id',
  'link',
  'retry-after',
  'cache-control',
  'set-cookie',
  'www-authenticate',
];

type Schema = { type?: string };
interface HeaderDoc {
  required?: boolean;
  schema?: Schema;
}
interface ResponseDoc {
  content?: Record<string, { schema?: unknown }>;
  headers?: Record<string, HeaderDoc | { $ref: string }>;
}
interface OperationDoc {
  responses: Record<string, ResponseDoc>;
}
type Document = {
  paths: Record<string, Record<string, OperationDoc>>;
  components?: { headers?: Record<string, HeaderDoc> };
};

interface Route {
  method: string;
  template: string;
  segments: string[];
  literals: number;
  operation: OperationDoc;
}

interface Validator {
  document: Document;
  routes: Route[];
  /** The body validator of a response, compiled on first use: keyed by its JSON pointer. */
  bodySchema: (pointer: string) => ValidateFunction;
}

export interface ReplyToCheck {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  text: string;
  body: unknown;
}

/** What the end-to-end tests of this process exercised: "METHOD /template" → statuses seen. */
export const exercised = new Map<string, Set<number>>();

const byApp = new WeakMap<NestFastifyApplication, Promise<Validator>>();
const byDocument = new Map<string, Promise<Validator>>();

/** Builds (or finds) the app's validator ahead of its first response, so that no test's clock pays for it. */
export async function prepareValidation(app: NestFastifyApplication): Promise<void> {
  await validatorFor(app);
}

function validatorFor(app: NestFastifyApplication): Promise<Validator> {
  let validator = byApp.get(app);
  if (!validator) {
    const document = buildOpenApiDocument(app, app.get<AppConfig>(APP_CONFIG)) as unknown as Document;
    // Apps configured alike have the same document: compile it once.
    const key = JSON.stringify(document);
    validator = byDocument.get(key);
    if (!validator) {
      validator = compile(JSON.parse(key) as Document);
      byDocument.set(key, validator);
    }
    byApp.set(app, validator);
  }
  return validator;
}

const DOCUMENT_ID = 'openapi.json';

async function compile(document: Document): Promise<Validator> {
  // OpenAPI 3.0 schemas: `nullable` is Ajv's own; `example` and the document's other members are ignored.
  const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
  ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
  ajv.addFormat('date-time', (value: string) => !Number.isNaN(Date.parse(value)));
  ajv.addSchema(document, DOCUMENT_ID);
  const compiled = new Map<string, ValidateFunction>();
  const bodySchema = (pointer: string) => {
    let validate = compiled.get(pointer);
    if (!validate) {
      validate = ajv.compile({ $ref: `${DOCUMENT_ID}#${pointer}` });
      compiled.set(pointer, validate);
    }
    return validate;
  };
  const routes: Route[] = [];
  for (const [template, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      const segments = template.split('/');
      routes.push({
        method: method.toUpperCase(),
        template,
        segments,
        literals: segments.filter((segment) => !segment.startsWith('{')).length,
        operation,
      });
    }
  }
  // Literal segments first, as Fastify routes: /users/me before /users/{id}.
  routes.sort((a, b) => b.literals - a.literals);
  return Promise.resolve({ document, routes, bodySchema });
}

/** A JSON pointer segment (RFC 6901). */
const pointerSegment = (text: string) => text.replaceAll('~', '~0').replaceAll('/', '~1');

/** The documented route Fastify would have chosen for this request (same segments, no normalisation). */
function routeOf(validator: Validator, method: string, url: string): Route | undefined {
  const path = url.split('?')[0]!;
  const segments = path.split('/');
  return validator.routes.find(
    (route) =>
      route.method === method &&
      route.segments.length === segments.length &&
      route.segments.every((segment, index) =>
        segment.startsWith('{') ? segments[index] !== '' : segment === segments[index],
      ),
  );
}

function headerDoc(document: Document, header: HeaderDoc | { $ref: string }): HeaderDoc {
  if ('$ref' in header) {
    const name = header.$ref.replace('#/components/headers/', '');
    const found = document.components?.headers?.[name];
    if (!found) throw new Error(`unresolved header reference ${header.$ref}`);
    return found;
  }
  return header;
}

/** The mismatches between a response and the document; empty when it conforms (or is not documented). */
export async function responseProblems(
  app: NestFastifyApplication,
  method: string,
  url: string,
  reply: ReplyToCheck,
): Promise<{ route?: string; problems: string[] }> {
  if (method === 'HEAD' || method === 'OPTIONS') return { problems: [] }; // Fastify's own twins of GET
  const validator = await validatorFor(app);
  const route = routeOf(validator, method, url);
  if (!route) return { problems: [] };
  const key = `${route.method} ${route.template}`;
  if (!exercised.has(key)) exercised.set(key, new Set());
  exercised.get(key)!.add(reply.status);

  const problems: string[] = [];
  const response = route.operation.responses[String(reply.status)];
  if (!response) {
    const documented = Object.keys(route.operation.responses).join(', ');
    return { route: key, problems: [`status ${reply.status} is not documented (documented: ${documented})`] };
  }

  // Media type and body.
  const contentType = String(reply.headers['content-type'] ?? '')
    .split(';')[0]!
    .trim();
  const media = response.content ?? {};
  if (Object.keys(media).length === 0) {
    if (reply.text !== '')
      problems.push(`a body (${contentType || 'no content type'}) where none is documented`);
  } else if (reply.text === '') {
    problems.push(`no body where ${Object.keys(media).join(', ')} is documented`);
  } else if (!(contentType in media)) {
    problems.push(
      `content type ${contentType || '(none)'} is not documented (${Object.keys(media).join(', ')})`,
    );
  } else if (contentType === 'application/json') {
    const pointer = ['paths', route.template, route.method.toLowerCase(), 'responses', String(reply.status)]
      .concat(['content', 'application/json', 'schema'])
      .map(pointerSegment)
      .join('/');
    const validate = validator.bodySchema(`/${pointer}`);
    if (!validate(reply.body)) {
      for (const error of validate.errors ?? []) {
        problems.push(
          `body${error.instancePath || ''} ${error.message ?? ''} ${JSON.stringify(error.params)}`,
        );
      }
    }
  }

  // Headers: every required one sent, every meaningful one sent documented, integers as integers.
  const documented = new Map(
    Object.entries(response.headers ?? {}).map(([name, header]) => [
      name.toLowerCase(),
      headerDoc(validator.document, header),
    ]),
  );
  for (const [name, header] of documented) {
    const value = reply.headers[name];
    if (value === undefined) {
      if (header.required) problems.push(`required header ${name} is missing`);
      continue;
    }
    if (header.schema?.type === 'integer' && !/^\d+$/.test(String(value))) {
      problems.push(`header ${name}: ${String(value)} is not an integer`);
    }
  }
  for (const name of MEANINGFUL_HEADERS) {
    if (reply.headers[name] !== undefined && !documented.has(name)) {
      problems.push(`header ${name} is sent but not documented`);
    }
  }
  return { route: key, problems };
}

/** Throws, failing the test, when a response does not conform to the document. */
export async function assertDocumented(
  app: NestFastifyApplication,
  method: string,
  url: string,
  reply: ReplyToCheck,
): Promise<void> {
  const { route, problems } = await responseProblems(app, method, url, reply);
  if (problems.length === 0) return;
  throw new Error(
    `${method} ${url} → ${reply.status} does not match the OpenAPI document (${route}):\n` +
      problems.map((problem) => `  - ${problem}`).join('\n') +
      `\n  body: ${reply.text.slice(0, 500)}`,
  );
}
