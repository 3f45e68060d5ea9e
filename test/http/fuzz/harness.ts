import { ERROR_STATUS, type ErrorCode } from '../../../src/common/errors/error-codes.js';
import { OAUTH_ERRORS, OAUTH_PATH_PREFIX, oauthErrorOf } from '../../../src/common/errors/oauth-error.js';
import { eq, inArray, or } from 'drizzle-orm';
import type { LightMyRequestResponse } from 'fastify';
import { auditEvents, sessions, users } from '../../../src/database/schema.js';
import { ROOT } from '../../support/process.js';
import type { TestApp } from '../../support/test-app.js';
import { decodeJwt } from '../../support/tokens.js';
import { BODY_LIMIT, type FuzzRequest, type Known, type Persona, REF } from './generators.js';

/**
 * The contract's error codes (the error table of docs/integrating.md) and the status each travels with: the
 * service's own list, which serves every error response. 500 `internal_error` is in it,
 * but a fuzzed request that gets it fails the "never a 5xx" check first.
 */
const CONTRACT_ERRORS: Record<string, number> = ERROR_STATUS;

type Reply = LightMyRequestResponse;

/** Fails the property with `message` (cheaper than expect() on the hot path; fast-check prints the request). */
function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/** One account a persona acts as, with a live session. */
export interface Account {
  id: string;
  email: string;
  password: string;
  accessToken: string;
  refreshToken: string;
  sessionId: string;
  /** Its own client address for signing in (never generated, so never throttled by the fuzzer). */
  address: string;
  /** A signin in flight, started when a fuzzed request ended the account's session. */
  signingIn?: Promise<void>;
}

/**
 * A persona acts as one of its accounts at a time. When a fuzzed request ends
 * the session (signout, signout/all, revoking its own session), the persona
 * moves on to its next account at once, and the first one signs in again in
 * the background: the argon2 work overlaps the fuzzing instead of stalling it.
 */
export class PersonaPool {
  private current = 0;
  constructor(
    readonly name: Exclude<Persona, 'anonymous'>,
    readonly accounts: Account[],
  ) {}

  get active(): Account {
    return this.accounts[this.current]!;
  }

  async rotate(target: FuzzTarget): Promise<void> {
    const ended = this.active;
    ended.signingIn = target.signin(ended);
    this.current = (this.current + 1) % this.accounts.length;
    await this.settle(this.active);
  }

  async settle(account: Account): Promise<void> {
    const pending = account.signingIn;
    account.signingIn = undefined;
    await pending;
  }
}

export interface Stats {
  total: number;
  byPersona: Record<string, number>;
  byRoute: Record<string, number>;
  byStatus: Record<string, number>;
  byTag: Record<string, number>;
  signins: number;
}

/**
 * Sends generated requests to the app and holds every response to the
 * properties: no 5xx, the contract's error shape, no stack trace, no secret,
 * no sign of acting as the victim; keeps the personas signed in; checks the
 * victim after each request that changed something.
 */
export class FuzzTarget {
  readonly stats: Stats = { total: 0, byPersona: {}, byRoute: {}, byStatus: {}, byTag: {}, signins: 0 };
  private victimBaseline = '';
  private readonly victimEmail: RegExp;

  constructor(
    private readonly t: TestApp,
    readonly known: Known,
    readonly personas: Record<Exclude<Persona, 'anonymous'>, PersonaPool>,
    /** Tokens of the victim's sessions: they must never show up in any response. */
    private readonly victimSecrets: string[],
  ) {
    this.victimEmail = new RegExp(known.victimEmail.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
  }

  /** Records the victim's state as it must stay. */
  async recordVictimBaseline(): Promise<void> {
    this.victimBaseline = await victimSnapshot(this.t, this.known.victimId);
  }

  async victimUnchanged(): Promise<boolean> {
    return (await victimSnapshot(this.t, this.known.victimId)) === this.victimBaseline;
  }

  /** Sends one generated request and checks every property on its response. */
  async send(request: FuzzRequest): Promise<Reply> {
    const pool = request.persona === 'anonymous' ? undefined : this.personas[request.persona];
    const account = pool?.active;
    const resolve = (text: string) =>
      account
        ? text
            .replaceAll(REF.access, account.accessToken)
            .replaceAll(REF.refresh, account.refreshToken)
            .replaceAll(REF.session, account.sessionId)
        : text;
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      headers[name] = Array.isArray(value) ? value.map(resolve) : resolve(value);
    }
    const payload = typeof request.payload === 'string' ? resolve(request.payload) : request.payload;
    const url = resolve(request.path) + request.query;
    const reply = await this.t.app.inject({
      method: request.method as 'GET',
      url,
      headers,
      payload,
      remoteAddress: request.remoteAddress,
    });
    this.count(request, reply);

    const describe = `${request.persona} ${request.method} ${url.slice(0, 300)} → ${reply.statusCode} ${reply.body.slice(0, 300)}`;
    const referenced = JSON.stringify([request.headers, request.payload ?? '']);
    const usedOwnRefresh = referenced.includes(REF.refresh);
    const usedOwnAccess = referenced.includes(REF.access);
    checkReply(request, reply, describe, {
      always: [...this.victimSecrets, ...passwordsIn(payload)],
      inErrors:
        account && (usedOwnAccess || usedOwnRefresh) ? [account.accessToken, account.refreshToken] : [],
      victimEmail: this.victimEmail,
      victimId: this.known.victimId,
    });

    if (pool && account) await this.afterPersonaRequest(pool, account, request, reply, usedOwnRefresh);
    const changedSomething = reply.statusCode < 300 && request.method !== 'GET' && request.method !== 'HEAD';
    if (changedSomething) check(await this.victimUnchanged(), `the victim changed: ${describe}`);
    return reply;
  }

  private count(request: FuzzRequest, reply: Reply): void {
    const { stats } = this;
    const route = `${request.route.method} ${request.route.path}`;
    stats.total++;
    stats.byPersona[request.persona] = (stats.byPersona[request.persona] ?? 0) + 1;
    stats.byRoute[route] = (stats.byRoute[route] ?? 0) + 1;
    const code = reply.statusCode >= 300 ? /"code":"(\w+)"/.exec(reply.body)?.[1] : undefined;
    const outcome = code ? `${reply.statusCode}:${code}` : String(reply.statusCode);
    stats.byStatus[outcome] = (stats.byStatus[outcome] ?? 0) + 1;
    for (const tag of new Set(request.tags)) stats.byTag[tag] = (stats.byTag[tag] ?? 0) + 1;
  }

  /**
   * Keeps the persona usable: a rotated refresh token is taken over; when a
   * request ended the account's session, the persona moves to its next account.
   */
  private async afterPersonaRequest(
    pool: PersonaPool,
    account: Account,
    request: FuzzRequest,
    reply: Reply,
    usedOwnRefresh: boolean,
  ): Promise<void> {
    if (
      usedOwnRefresh &&
      reply.statusCode === 200 &&
      request.method === 'POST' &&
      request.path === '/auth/refresh'
    ) {
      const body = reply.json();
      account.refreshToken = body.refreshToken;
      account.accessToken = body.accessToken;
    }
    const changed = reply.statusCode < 300 && request.method !== 'GET' && request.method !== 'HEAD';
    const revoked = reply.statusCode === 401 && reply.body.includes('"session_revoked"');
    if (!changed && !revoked) return;
    const me = await this.t.app.inject({
      method: 'GET',
      url: '/users/me',
      headers: { authorization: `Bearer ${account.accessToken}` },
      remoteAddress: account.address,
    });
    if (me.statusCode !== 200) await pool.rotate(this);
  }

  async signin(account: Account): Promise<void> {
    const reply = await this.t.app.inject({
      method: 'POST',
      url: '/auth/signin',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ email: account.email, password: account.password }),
      remoteAddress: account.address,
    });
    check(reply.statusCode === 200, `${account.email} signs in again: ${reply.statusCode} ${reply.body}`);
    const body = reply.json();
    account.accessToken = body.accessToken;
    account.refreshToken = body.refreshToken;
    account.sessionId = decodeJwt(body.accessToken).payload.sid;
    this.stats.signins++;
  }

  /** Waits for the signins still in flight. */
  async settle(): Promise<void> {
    for (const pool of Object.values(this.personas)) {
      for (const account of pool.accounts) await pool.settle(account);
    }
  }

  /** The run's numbers, for the one log line. */
  summary(seconds: number): string {
    const { stats } = this;
    const sorted = (record: Record<string, number>) =>
      Object.entries(record)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([key, value]) => `${key}=${value}`)
        .join(' ');
    return [
      `fuzz: ${stats.total} generated requests in ${seconds.toFixed(1)} s (${sorted(stats.byPersona)}); ` +
        `${Object.keys(stats.byRoute).length} routes; persona accounts signed in again ${stats.signins} times`,
      `  outcomes: ${sorted(stats.byStatus)}`,
      `  generators: ${sorted(stats.byTag)}`,
    ].join('\n');
  }
}

/** The victim's row (email, hash, roles, disabled, updated_at), sessions and audit events, as one string. */
export async function victimSnapshot(t: TestApp, victimId: string): Promise<string> {
  const { db } = t.connection;
  const [row] = await accountRows(t, [victimId]);
  const sessionRows = await db
    .select({
      id: sessions.id,
      revokedAt: sessions.revokedAt,
      expiresAt: sessions.expiresAt,
      generation: sessions.refreshGeneration,
    })
    .from(sessions)
    .where(eq(sessions.userId, victimId))
    .orderBy(sessions.id);
  const events = await db
    .select({ id: auditEvents.id, type: auditEvents.type })
    .from(auditEvents)
    .where(or(eq(auditEvents.userId, victimId), eq(auditEvents.actorId, victimId)))
    .orderBy(auditEvents.id);
  return JSON.stringify({ row, sessions: sessionRows, events });
}

/** Every audit event about or by `userId`, oldest first. */
export function auditEventsOf(t: TestApp, userId: string) {
  return t.connection.db
    .select({
      id: auditEvents.id,
      type: auditEvents.type,
      ip: auditEvents.ip,
      userAgent: auditEvents.userAgent,
    })
    .from(auditEvents)
    .where(or(eq(auditEvents.userId, userId), eq(auditEvents.actorId, userId)))
    .orderBy(auditEvents.id);
}

/** The fields of accounts that no fuzzed request may change. */
export function accountRows(t: TestApp, ids: string[]) {
  return t.connection.db
    .select({
      id: users.id,
      email: users.email,
      passwordHash: users.passwordHash,
      roles: users.roles,
      disabledAt: users.disabledAt,
      updatedAt: users.updatedAt,
    })
    .from(users)
    .where(inArray(users.id, ids))
    .orderBy(users.id);
}

/** Password-like and token-like strings in a JSON payload (12+ characters): never echoed. */
function passwordsIn(payload: string | Buffer | undefined): string[] {
  if (typeof payload !== 'string' || payload.length > BODY_LIMIT || !/password|token/i.test(payload))
    return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return [];
  }
  const found: string[] = [];
  const walk = (value: unknown, key: string | undefined, depth: number) => {
    if (typeof value === 'string' && key && /password|token/i.test(key) && value.length >= 12)
      found.push(value);
    else if (value && typeof value === 'object' && depth < 8) {
      for (const [k, v] of Object.entries(value)) walk(v, Array.isArray(value) ? key : k, depth + 1);
    }
  };
  walk(parsed, undefined, 0);
  return found;
}

/** A stack frame, or a path into the source tree or the machine, in a response body. */
export function leaksInternals(text: string): string | undefined {
  const frame = /^\s+at \S.*$/m.exec(text);
  if (frame) return `stack frame: ${frame[0]}`;
  const source = /(?:^|[^\w-])src\/[\w./-]+\.[cm]?[jt]s\b/.exec(text);
  if (source) return `source path: ${source[0]}`;
  if (text.includes(ROOT)) return `repository path ${ROOT}`;
  if (/node_modules\/|file:\/\//.test(text)) return 'module path';
  return undefined;
}

export interface Secrets {
  /** Never in any response: the victim's tokens, passwords and tokens the request carried. */
  always: string[];
  /** Never in an error: the caller's own tokens. */
  inErrors: string[];
  victimEmail: RegExp;
  victimId: string;
}

/** Every property a single response is held to. */
export function checkReply(request: FuzzRequest, reply: Reply, describe: string, secrets: Secrets): void {
  const status = reply.statusCode;
  const text = reply.body;
  check(status < 500, `never a 5xx: ${describe}`);
  check(status >= 200, `a final status: ${describe}`);

  const leak = leaksInternals(text);
  check(leak === undefined, `${leak} in the body: ${describe}`);
  check(!text.includes('$argon2'), `a password hash in the body: ${describe}`);
  for (const secret of [...secrets.always, ...(status >= 300 ? secrets.inErrors : [])]) {
    check(!text.includes(secret), `a secret echoed: ${describe}`);
  }

  // Only an admin ever sees anything of the victim; a forged token is never believed.
  if (status < 300 && (request.persona !== 'admin' || request.tags.includes('forged-token'))) {
    check(!text.includes(secrets.victimId), `the victim's id shown: ${describe}`);
    check(!secrets.victimEmail.test(text), `the victim's email shown: ${describe}`);
  }

  // A JSON body over the limit, on a route that reads bodies: 413 before anything looks at it.
  const bytes = request.payload === undefined ? 0 : Buffer.byteLength(request.payload);
  if (
    bytes > BODY_LIMIT &&
    request.headers['content-type'] === 'application/json' &&
    !('content-length' in request.headers) &&
    !('transfer-encoding' in request.headers) &&
    request.cleanPath &&
    request.method === request.route.method &&
    request.method !== 'GET' &&
    request.method !== 'HEAD'
  ) {
    check(status === 413, `an oversized body is 413: ${describe}`);
  }

  if (status < 300) return;

  const contentType = String(reply.headers['content-type']);
  check(/^application\/json(;|$)/.test(contentType), `error content type ${contentType}: ${describe}`);
  if (status === 429) check(/^\d+$/.test(String(reply.headers['retry-after'])), `Retry-After: ${describe}`);
  // A HEAD answer has no body on the wire (Node drops it); injected, a 404's body is still visible.
  if (request.method.toUpperCase() === 'HEAD' && text === '') return;
  if (request.path.startsWith(OAUTH_PATH_PREFIX)) checkOAuthErrorShape(text, status, describe);
  else checkErrorShape(text, status, describe);
}

/**
 * RFC 6749 §5.2's error shape, which every /oauth/ error takes instead of the contract's: exactly
 * `{ error, error_description }`, an `error` of the documented set, the status its service code has.
 */
export function checkOAuthErrorShape(text: string, status: number, describe: string): void {
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    check(false, `an error body is JSON: ${describe}`);
  }
  check(
    body !== null && typeof body === 'object' && !Array.isArray(body),
    `error body is an object: ${describe}`,
  );
  const keys = Object.keys(body).sort().join(',');
  check(keys === 'error,error_description', `OAuth error keys ${keys}: ${describe}`);
  check(OAUTH_ERRORS.includes(body.error), `an OAuth error (got ${body.error}): ${describe}`);
  check(
    typeof body.error_description === 'string' && body.error_description.length > 0,
    `error_description: ${describe}`,
  );
  const statuses = Object.entries(ERROR_STATUS)
    .filter(([code]) => oauthErrorOf(code as ErrorCode) === body.error)
    .map(([, codeStatus]) => codeStatus as number);
  check(statuses.includes(status), `error ${body.error} goes with its status: ${describe}`);
}

/** The contract's error shape, exactly: keys, types, code ↔ status, `errors` only on validation. */
export function checkErrorShape(text: string, status: number, describe: string): void {
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    check(false, `an error body is JSON: ${describe}`);
  }
  check(
    body !== null && typeof body === 'object' && !Array.isArray(body),
    `error body is an object: ${describe}`,
  );
  const keys = Object.keys(body).sort().join(',');
  check(
    keys === 'code,error,message,statusCode' || keys === 'code,error,errors,message,statusCode',
    `error keys ${keys}: ${describe}`,
  );
  check(body.statusCode === status, `statusCode: ${describe}`);
  check(typeof body.error === 'string' && body.error.length > 0, `error: ${describe}`);
  check(typeof body.message === 'string' && body.message.length > 0, `message: ${describe}`);
  check(Object.hasOwn(CONTRACT_ERRORS, body.code), `a contract code (got ${body.code}): ${describe}`);
  check(CONTRACT_ERRORS[body.code] === status, `code ${body.code} goes with its status: ${describe}`);
  if ('errors' in body) {
    check(body.code === 'validation_failed', `only validation failures list errors: ${describe}`);
    check(Array.isArray(body.errors), `errors is an array: ${describe}`);
    for (const entry of body.errors) {
      check(
        entry !== null &&
          typeof entry === 'object' &&
          Object.keys(entry).sort().join(',') === 'field,message' &&
          typeof entry.field === 'string' &&
          typeof entry.message === 'string',
        `errors[] entries are { field, message }: ${describe}`,
      );
    }
  }
}
