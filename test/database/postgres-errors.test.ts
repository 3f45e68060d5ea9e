import { DrizzleQueryError } from 'drizzle-orm';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { toErrorResponse } from '../../src/common/errors/error-body.js';
import {
  classifyDatabaseError,
  discardsConnection,
  markConnectFailure,
} from '../../src/database/postgres-errors.js';

/** An error as the server sends it (pg's DatabaseError, with its SQLSTATE). */
function serverError(code: string, message = `server error ${code}`): pg.DatabaseError {
  const error = new pg.DatabaseError(message, message.length, 'error');
  error.code = code;
  return error;
}

/** A Node socket error. */
function socketError(code: string, syscall = 'connect'): NodeJS.ErrnoException {
  return Object.assign(new Error(`${syscall} ${code} 127.0.0.1:5432`), { code, syscall });
}

/** As a repository's caller sees it: Drizzle's wrapper around the driver's error. */
const failedQuery = (cause: Error) =>
  new DrizzleQueryError('insert into "users" ("email") values ($1)', ['ada@example.com'], cause);

describe('classification of database errors', () => {
  it.each([
    // SQLSTATE class 08: connection exception
    ['08000', 'connection'],
    ['08001', 'connection'],
    ['08003', 'connection'],
    ['08006', 'connection'],
    ['08P01', 'connection'],
    // class 57: operator intervention
    ['57014', 'statement_timeout'],
    ['57P01', 'shutdown'],
    ['57P02', 'shutdown'],
    ['57P03', 'shutdown'],
    ['57P04', 'shutdown'],
    ['57000', 'shutdown'],
    // class 53: insufficient resources
    ['53300', 'resources'],
    ['53100', 'resources'],
    ['53200', 'resources'],
    ['53000', 'resources'],
    // lock_not_available (lock_timeout), read-only transaction, conflicts
    ['55P03', 'lock_timeout'],
    ['25006', 'read_only'],
    ['40001', 'conflict'],
    ['40P01', 'conflict'],
  ])('SQLSTATE %s → 503, class %s', (code, expected) => {
    for (const error of [serverError(code), failedQuery(serverError(code))]) {
      expect(classifyDatabaseError(error)).toEqual({ class: expected, sqlstate: code });
      const response = toErrorResponse(error, classifyDatabaseError);
      expect(response.body).toMatchObject({ statusCode: 503, code: 'unavailable' });
      expect(response.headers['Retry-After']).toBe('5');
    }
  });

  it('55000 means "not accepting connections" only when raised while connecting', () => {
    const atConnect = markConnectFailure(
      serverError('55000', 'database "gatehouse" is not currently accepting connections'),
    );
    expect(classifyDatabaseError(atConnect)).toEqual({ class: 'not_accepting', sqlstate: '55000' });
    expect(classifyDatabaseError(failedQuery(atConnect))).toEqual({
      class: 'not_accepting',
      sqlstate: '55000',
    });
    // The same SQLSTATE on a query (e.g. currval before nextval) is a bug: 500.
    expect(classifyDatabaseError(failedQuery(serverError('55000')))).toBeUndefined();
  });

  it.each(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN'])(
    'socket error %s → 503, class connection',
    (code) => {
      expect(classifyDatabaseError(socketError(code))).toEqual({ class: 'connection' });
      expect(classifyDatabaseError(failedQuery(socketError(code, 'read')))).toEqual({ class: 'connection' });
    },
  );

  it('a missing Unix socket (the embedded server gone) is a connection failure; another ENOENT is not', () => {
    expect(classifyDatabaseError(socketError('ENOENT', 'connect'))).toEqual({ class: 'connection' });
    expect(classifyDatabaseError(socketError('ENOENT', 'open'))).toBeUndefined();
  });

  it('a connection tried on several addresses (AggregateError) is judged by the errors inside', () => {
    const both = new AggregateError([socketError('ECONNREFUSED'), socketError('ECONNREFUSED')]);
    expect(classifyDatabaseError(both)).toEqual({ class: 'connection' });
  });

  it.each([
    ['Connection terminated unexpectedly', 'connection'],
    ['Connection terminated due to connection timeout', 'connection'],
    ['Client has encountered a connection error and is not queryable', 'connection'],
    ['Client was closed and is not queryable', 'connection'],
    ['Query read timeout', 'connection'],
    ['Cannot use a pool after calling end on the pool', 'connection'],
    ['timeout exceeded when trying to connect', 'acquire_timeout'],
  ])('the driver\'s "%s" → 503, class %s', (message, expected) => {
    expect(classifyDatabaseError(new Error(message))).toEqual({ class: expected });
    expect(classifyDatabaseError(failedQuery(new Error(message)))).toEqual({ class: expected });
  });

  it.each([
    ['23505', 'unique violation'],
    ['23503', 'foreign key violation'],
    ['42P01', 'undefined table'],
    ['42601', 'syntax error'],
    ['22P02', 'invalid text representation'],
    ['3D000', 'database does not exist'],
    ['28P01', 'password authentication failed'],
    ['XX000', 'internal error'],
  ])('SQLSTATE %s (%s) stays a 500, without detail', (code) => {
    const error = failedQuery(serverError(code));
    expect(classifyDatabaseError(error)).toBeUndefined();
    const response = toErrorResponse(error, classifyDatabaseError);
    expect(response.body).toEqual({
      statusCode: 500,
      error: 'Internal Server Error',
      code: 'internal_error',
      message: 'Internal server error',
    });
    expect(response.unexpected).toBe(true);
  });

  it('anything else stays a 500: a bug, a thrown non-error, a cycle of causes', () => {
    expect(classifyDatabaseError(new TypeError('x is undefined'))).toBeUndefined();
    expect(classifyDatabaseError({ code: '57P01' })).toBeUndefined();
    expect(classifyDatabaseError('Connection terminated')).toBeUndefined();
    const cyclic = new Error('outer');
    cyclic.cause = cyclic;
    expect(classifyDatabaseError(cyclic)).toBeUndefined();
    expect(toErrorResponse(new Error('boom'), classifyDatabaseError).body.statusCode).toBe(500);
  });

  it('discards a connection whose server is read-only or going away, keeps one that only timed out', () => {
    for (const code of ['25006', '57P01', '57P02', '57P03', '08006'])
      expect(discardsConnection(code)).toBe(true);
    for (const code of [undefined, '57014', '55P03', '40001', '40P01', '53200', '23505']) {
      expect(discardsConnection(code)).toBe(false);
    }
  });
});
