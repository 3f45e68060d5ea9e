import { METHODS } from 'node:http';
import fc from 'fast-check';
import { GOOD_PASSWORD } from '../../support/http.js';
import { assemble, signHs256 } from '../../support/tokens.js';

/**
 * The request generators of the fuzzing suite. A generated request is plain
 * data; the persona's live credentials are not known when it is generated
 * (they change when a fuzzed request signs the persona out or rotates its
 * refresh token), so they appear as placeholders resolved when it is sent.
 */

export type Persona = 'anonymous' | 'user' | 'admin';
export interface Route {
  method: string;
  path: string;
}

/** Placeholders for the sending persona's current access token, refresh token and session id. */
export const REF = {
  access: '⟨own-access-token⟩',
  refresh: '⟨own-refresh-token⟩',
  session: '⟨own-session-id⟩',
} as const;

/** The accounts the fuzzer knows of (set up before generation starts). */
export interface Known {
  victimId: string;
  victimEmail: string;
  victimSessionIds: string[];
  /** The admin persona's accounts (the first admin and a second one). */
  adminIds: string[];
  adminEmails: string[];
  /** The plain user persona's accounts. */
  plainIds: string[];
  plainEmails: string[];
  /** Accounts an admin may modify, disable or delete while fuzzing. */
  scratchIds: string[];
  scratchEmails: string[];
}

export interface FuzzRequest {
  persona: Persona;
  /** The registered route the request was generated from. */
  route: Route;
  method: string;
  /** The path, parameters filled in (possibly with REF.session). */
  path: string;
  /** The path is the route's own, with well-formed parameters: the route is matched. */
  cleanPath: boolean;
  /** '' or '?…' */
  query: string;
  headers: Record<string, string | string[]>;
  payload?: string | Buffer;
  remoteAddress: string;
  /** Which special generators contributed (for the run's statistics). */
  tags: string[];
}

/** Addresses the fuzzer never uses: its own maintenance requests come from there. */
export const RESERVED_ADDRESS_PREFIX = '192.0.2.';

export const BODY_LIMIT = 16 * 1024;

// ---------------------------------------------------------------------------
// Building blocks

const latin1 = (bytes: number[]) => Buffer.from(bytes).toString('latin1');

/** Byte sequences that are not UTF-8: a lone continuation byte, overlong forms, surrogates, > U+10FFFF, truncations. */
export const INVALID_UTF8: number[][] = [
  [0xc3, 0x28],
  [0xff],
  [0xfe, 0xff],
  [0x80],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xc0, 0xaf],
  [0xe2, 0x82],
  [0xf0, 0x28, 0x8c, 0x28],
  [0xc3],
];

/** Percent-encodings of invalid UTF-8, NUL, control characters, and malformed escapes. */
export const PERCENT_JUNK = [
  '%C3%28',
  '%FF',
  '%00',
  '%FE%FF',
  '%ED%A0%80',
  '%C0%AF',
  '%E2%82',
  '%F4%90%80%80',
  '%',
  '%%',
  '%G0',
  '%2',
  '%u0041',
  '%25',
  '%0A',
  '%0D%0A',
  '%2F',
  '%5C',
  '%2e%2e',
];

const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\u0000\u0000\u0000',
  '\ud800',
  '\udfff\ud800',
  '\u202e',
  '\u200b',
  '\ufeff',
  '\r\n',
  '\\',
  '"',
  'null',
  'undefined',
  'true',
  '1',
  '-1',
  '1e400',
  'NaN',
  '__proto__',
  'constructor',
  'prototype',
  'polluted',
  '<script>alert(1)</script>',
  "' OR 1=1 --",
  "'; DROP TABLE users; --",
  '%s%s%s%n',
  '${jndi:ldap://x}',
  '{{7*7}}',
  '../../../../etc/passwd',
  'ＡＤＭＩＮ',
  'admin',
  'ADMIN',
  'user',
  'İ',
  'ß',
  'ﬀ',
  '🏳️‍🌈',
  'e\u0301',
  latin1([0xc3, 0x28]),
  latin1([0xff, 0xfe]),
];

const nastyString = fc.constantFrom(...NASTY_STRINGS);
const loneSurrogates = fc
  .array(fc.integer({ min: 0xd800, max: 0xdfff }), { minLength: 1, maxLength: 3 })
  .map((units) => String.fromCharCode(...units));
const withNul = fc
  .tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }))
  .map(([a, b]) => `${a}\u0000${b}`);

/** Any string, weighted toward the ones that break things. */
export const anyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: nastyString },
  { weight: 3, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
  { weight: 1, arbitrary: loneSurrogates },
  { weight: 2, arbitrary: withNul },
  { weight: 1, arbitrary: fc.integer({ min: 200, max: 3_000 }).map((n) => 'x'.repeat(n)) },
);

const UNICODE_EMAILS = [
  'ü@example.com',
  'Ünïcödé.Üser@Exämple.Com',
  '用户@例子.广告',
  'user@exämple.com',
  'user@xn--exmple-cua.com',
  '😀@example.com',
  'x＠example.com',
  'İnfo@example.com',
  'ǅ@example.com',
  'ß@example.com',
  'user\u200b@example.com',
  '\u202euser@example.com',
  'user\u0000@example.com',
  'user@example.com\u0000',
  '  Spaced@Example.com  ',
  '\tTab@example.com\n',
  'UPPER@EXAMPLE.COM',
  'a@b',
  'a@b.c',
  '"quoted"@example.com',
  'user..dots@example.com',
  '.user@example.com',
  'user@-example.com',
  'user@[127.0.0.1]',
  'user@localhost',
  'user+tag@example.com',
  'user@example.com.',
  '@example.com',
  'user@',
  'a@b@example.com',
  `${'a'.repeat(64)}@${'b'.repeat(185)}.com`, // 254 characters
  `${'a'.repeat(64)}@${'b'.repeat(186)}.com`, // 255 characters
  `${'a'.repeat(65)}@example.com`,
  `${latin1([0xc3, 0x28])}@example.com`,
];

/** Emails: mostly a small pool (so repeated signins hit the per-email throttle), some random. */
export function emailArb(known: Known): fc.Arbitrary<string> {
  const pool = [
    'fuzz.one@example.com',
    'fuzz.two@example.com',
    'FUZZ.ONE@EXAMPLE.COM',
    ...known.plainEmails,
    ...known.adminEmails,
    ...known.scratchEmails,
    ...UNICODE_EMAILS,
  ];
  const victim = known.victimEmail.toLowerCase();
  return fc
    .oneof(
      { weight: 6, arbitrary: fc.constantFrom(...pool) },
      { weight: 3, arbitrary: fc.nat(40).map((n) => `fuzz.${n}@example.com`) },
      { weight: 1, arbitrary: fc.emailAddress() },
      { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => `${s}@example.com`) },
      { weight: 1, arbitrary: anyString.map((s) => `${s}@${s}.com`) },
      { weight: 1, arbitrary: fc.integer({ min: 240, max: 400 }).map((n) => `${'e'.repeat(n)}@example.com`) },
    )
    .filter((email) => !email.toLowerCase().includes(victim));
}

/**
 * Passwords: mostly ones that fail validation or the policy (cheap: no argon2),
 * rarely one that passes it (a signup then costs an argon2 hash). Never the
 * personas' password, so no fuzzed password change succeeds.
 */
export const passwordArb: fc.Arbitrary<string> = fc
  .oneof(
    { weight: 6, arbitrary: fc.string({ maxLength: 7 }) },
    { weight: 3, arbitrary: anyString },
    {
      weight: 1,
      arbitrary: fc.string({ unit: 'grapheme', minLength: 10, maxLength: 30 }).map((s) => `Fz!${s}`),
    },
    { weight: 1, arbitrary: fc.constantFrom('password', '12345678', 'qwertyuiop', 'Password1', 'iloveyou') },
    { weight: 1, arbitrary: fc.integer({ min: 129, max: 5_000 }).map((n) => 'p'.repeat(n)) },
  )
  .filter((password) => password !== GOOD_PASSWORD);

const base64url = fc
  .uint8Array({ minLength: 0, maxLength: 48 })
  .map((bytes) => Buffer.from(bytes).toString('base64url'));

/** Strings shaped like tokens, and the persona's own tokens used where they do not belong. */
function tokenArb(persona: Persona): fc.Arbitrary<string> {
  const own = persona === 'anonymous' ? [] : [REF.refresh, REF.access, `${REF.refresh}x`, ` ${REF.refresh}`];
  return fc.oneof(
    ...(own.length > 0 ? [{ weight: 3, arbitrary: fc.constantFrom(...own) }] : []),
    { weight: 2, arbitrary: fc.uint8Array({ minLength: 32, maxLength: 32 }).map(refreshShaped) },
    { weight: 1, arbitrary: base64url.map((s) => `gh_rt_${s}`) },
    { weight: 1, arbitrary: anyString },
    { weight: 1, arbitrary: fc.tuple(base64url, base64url, base64url).map((parts) => parts.join('.')) },
  );
}

function refreshShaped(bytes: Uint8Array): string {
  return `gh_rt_${Buffer.from(bytes).toString('base64url')}`;
}

// ---------------------------------------------------------------------------
// JSON bodies, generated as text (so that keys can repeat and numbers can be out of range)

const NUMBER_TEXTS = [
  '0',
  '-0',
  '1',
  '-1',
  '0.5',
  '1e2',
  '1E400',
  '-1e400',
  '1e-400',
  '123456789012345678901234567890',
  '9007199254740993',
  '-9007199254740993',
  '1.7976931348623157e309',
  '100',
  '101',
];

const numberText = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...NUMBER_TEXTS) },
  { weight: 1, arbitrary: fc.double().map((n) => (Number.isFinite(n) ? JSON.stringify(n) : '1e999')) },
  { weight: 1, arbitrary: fc.bigInt().map(String) },
);

const KEYS = [
  'email',
  'password',
  'refreshToken',
  'currentPassword',
  'newPassword',
  'roles',
  'disabled',
  '__proto__',
  'constructor',
  'prototype',
  'role',
  'isAdmin',
  'admin',
  'id',
  'userId',
  'polluted',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '',
  '__pro\u0000to__',
];
const keyArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...KEYS) },
  { weight: 1, arbitrary: anyString },
);

const stringText = anyString.map((s) => JSON.stringify(s));

const { json: jsonText } = fc.letrec<{ json: string; leaf: string; array: string; object: string }>(
  (tie) => ({
    json: fc.oneof({ maxDepth: 4, depthIdentifier: 'json' }, tie('leaf'), tie('array'), tie('object')),
    leaf: fc.oneof(stringText, numberText, fc.constantFrom('true', 'false', 'null')),
    array: fc
      .array(tie('json'), { maxLength: 4, depthIdentifier: 'json' })
      .map((items) => `[${items.join(',')}]`),
    object: fc
      .array(fc.tuple(keyArb, tie('json')), { maxLength: 5, depthIdentifier: 'json' })
      .map(objectText),
  }),
);

function objectText(entries: [string, string][]): string {
  return `{${entries.map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(',')}}`;
}

const ROLE_NAMES = [
  'admin',
  'user',
  'ADMIN',
  'Admin',
  'root',
  'superuser',
  '__proto__',
  '',
  ' admin',
  'admin\u0000',
];

/** A value for a known field: mostly of the right type and near the edge, else anything. */
function fieldValueText(field: string, known: Known, persona: Persona): fc.Arbitrary<string> {
  const str = (arb: fc.Arbitrary<string>) => arb.map((s) => JSON.stringify(s));
  const typed: Record<string, fc.Arbitrary<string>> = {
    email: str(emailArb(known)),
    password: str(passwordArb),
    currentPassword: str(passwordArb),
    newPassword: str(passwordArb),
    refreshToken: str(tokenArb(persona)),
    roles: fc.oneof(
      fc
        .array(fc.oneof(fc.constantFrom(...ROLE_NAMES), anyString), { maxLength: 6 })
        .map((roles) => JSON.stringify(roles)),
      fc.constantFrom('"admin"', '["admin","admin","admin","admin","admin"]', '[]', '[null]', '[["admin"]]'),
    ),
    disabled: fc.constantFrom('true', 'false', '"true"', '"false"', '1', '0', 'null', '[]', '{}'),
  };
  const right = typed[field];
  return right ? fc.oneof({ weight: 4, arbitrary: right }, { weight: 1, arbitrary: jsonText }) : jsonText;
}

const FIELDS = ['email', 'password', 'refreshToken', 'currentPassword', 'newPassword', 'roles', 'disabled'];

/** An object of the routes' fields (keys may repeat), sometimes with an extra key. */
function shapedObjectText(known: Known, persona: Persona): fc.Arbitrary<string> {
  const entry = fc.oneof(
    {
      weight: 5,
      arbitrary: fc
        .constantFrom(...FIELDS)
        .chain((f) => fc.tuple(fc.constant(f), fieldValueText(f, known, persona))),
    },
    { weight: 1, arbitrary: fc.tuple(keyArb, jsonText) },
  );
  // The shapes the routes expect, so that validation passes often enough to reach the services.
  const shapes: fc.Arbitrary<[string, string][]>[] = [
    fc.tuple(
      fc.tuple(fc.constant('email'), fieldValueText('email', known, persona)),
      fc.tuple(fc.constant('password'), fieldValueText('password', known, persona)),
    ),
    fc.tuple(fc.tuple(fc.constant('refreshToken'), fieldValueText('refreshToken', known, persona))),
    fc.tuple(
      fc.tuple(fc.constant('currentPassword'), fieldValueText('currentPassword', known, persona)),
      fc.tuple(fc.constant('newPassword'), fieldValueText('newPassword', known, persona)),
    ),
    fc
      .record(
        {
          roles: fieldValueText('roles', known, persona),
          disabled: fieldValueText('disabled', known, persona),
        },
        { requiredKeys: [] },
      )
      .map((record) => Object.entries(record)),
  ];
  return fc
    .oneof(
      { weight: 3, arbitrary: fc.oneof(...shapes) },
      { weight: 2, arbitrary: fc.array(entry, { maxLength: 5 }) },
    )
    .map(objectText);
}

/**
 * Bodies that pass validation more often than not: signups, signins and password
 * changes that reach argon2 (rare enough to keep the run fast), role changes and
 * disabling that reach the database, refresh tokens.
 */
function validObjectText(known: Known, persona: Persona): fc.Arbitrary<string> {
  const email = fc.oneof(
    { weight: 3, arbitrary: fc.nat(40).map((n) => `fuzz.${n}@example.com`) },
    // Existing accounts: signup answers 409, signin checks the (wrong) password.
    {
      weight: 1,
      arbitrary: fc.constantFrom(...known.plainEmails, ...known.adminEmails, ...known.scratchEmails),
    },
    { weight: 1, arbitrary: fc.constantFrom(' Fuzz.1@Example.COM ', 'FUZZ.2@EXAMPLE.COM') },
  );
  const goodPassword = fc
    .string({ unit: 'grapheme-ascii', minLength: 10, maxLength: 24 })
    .map((s) => `Fz!${s}`)
    .filter((password) => password !== GOOD_PASSWORD);
  const password = fc.oneof(goodPassword, passwordArb);
  return fc
    .oneof(
      fc.record({ email, password }),
      fc.record({ currentPassword: password, newPassword: password }),
      fc.record(
        { roles: fc.subarray(['admin', 'user']), disabled: fc.boolean() },
        { requiredKeys: [], noNullPrototype: true },
      ),
      fc.record({ disabled: fc.boolean() }),
      fc.record({ refreshToken: tokenArb(persona) }),
    )
    .map((body) => JSON.stringify(body));
}

// ---------------------------------------------------------------------------
// Special payloads

export const PROTO_PAYLOADS = [
  '{"__proto__":{"polluted":"yes","roles":["admin"],"isAdmin":true}}',
  '{"constructor":{"prototype":{"polluted":"yes"}}}',
  '{"email":"proto@example.com","password":"Fz!proto-password","__proto__":{"roles":["admin"]}}',
  '{"prototype":{"polluted":"yes"}}',
  '{"roles":["admin"],"__proto__":{"disabled":true}}',
  '[{"__proto__":{"polluted":1}}]',
  '{"a":{"b":{"__proto__":{"polluted":1}}}}',
  '{"__proto__":null}',
  '{"__proto__":[]}',
  '{"constructor":{"prototype":null}}',
  '{"__pro\\u0074o__":{"polluted":1}}',
  '{"\\u005f_proto__":{"polluted":1}}',
  '{"constructor":{"prototype":{"toString":"x","polluted":1}}}',
  '{"refreshToken":"x","constructor":{"name":"polluted"}}',
  '{"disabled":true,"__proto__":{"__proto__":{"polluted":1}}}',
];

export const MALFORMED_PAYLOADS = [
  '',
  ' ',
  '\n\t ',
  'null',
  'true',
  '0',
  '"string"',
  '[]',
  '{}',
  '{',
  '}',
  '{"a":}',
  "{'email':'a@example.com'}",
  '{"a":1,}',
  '{a:1}',
  'NaN',
  'Infinity',
  '\ufeff{}',
  '{"a":1}garbage',
  '{"a":1}{"b":2}',
  '/* comment */{}',
  'email=a%40example.com&password=x',
  '<?xml version="1.0"?><email>a@example.com</email>',
  '{"email":"a@example.com","password":"x"',
  '{"email":"\u0000"}',
  '{"email":"\\u0000@example.com","password":"\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000"}',
  '{"email":"\\ud800@example.com","password":"\\udfff"}',
  '"\\u0000"',
];

export const DUPLICATE_KEY_PAYLOADS = [
  '{"email":"fuzz.one@example.com","email":"fuzz.two@example.com","password":"x","password":1}',
  '{"disabled":false,"disabled":true}',
  '{"roles":["user"],"roles":["admin"]}',
  '{"refreshToken":"a","refreshToken":"b"}',
  '{"currentPassword":"x","newPassword":"y","newPassword":{"a":1}}',
  '{"__proto__":{},"__proto__":{"polluted":1}}',
];

export const NUMBERS_AS_STRINGS_PAYLOADS = [
  '{"disabled":"true"}',
  '{"disabled":"1"}',
  '{"disabled":1}',
  '{"roles":"admin"}',
  '{"roles":"[\\"admin\\"]"}',
  '{"email":1,"password":12345678}',
  '{"email":"1","password":"12345678"}',
  '{"limit":"50","cursor":1}',
  '{"refreshToken":12345678901234567890}',
];

export const BIG_NUMBER_PAYLOADS = [
  '{"disabled":1e400}',
  '{"email":123456789012345678901234567890,"password":-1e-400}',
  '{"roles":[1e999999,-1e999999]}',
  '1e999999',
  '-0',
  '9007199254740993',
  '{"currentPassword":1.7976931348623157e309,"newPassword":0.1e-99999}',
  `{"disabled":${'9'.repeat(5_000)}}`,
];

/** Deeply nested arrays: within the body limit (parsed) and beyond it (10k levels: 413). */
const deepArrays = fc
  .oneof(fc.integer({ min: 1, max: 8_190 }), fc.constant(8_192), fc.constant(10_000))
  .map((n) => ({ text: '['.repeat(n) + ']'.repeat(n), tag: 'deep-array' }));

/** Deeply nested objects, alone, inside a field, or hiding a __proto__ key at the bottom. */
const deepObjects = fc
  .tuple(fc.integer({ min: 1, max: 2_700 }), fc.constantFrom('plain', 'field', 'proto', 'over-limit'))
  .map(([n, kind]) => {
    if (kind === 'field') {
      return { text: `{"email":${'{"a":'.repeat(n)}1${'}'.repeat(n)},"password":"x"}`, tag: 'deep-object' };
    }
    if (kind === 'proto') {
      return { text: `${'{"a":'.repeat(n)}{"__proto__":{"polluted":1}}${'}'.repeat(n)}`, tag: 'deep-object' };
    }
    const levels = kind === 'over-limit' ? 10_000 : n;
    return { text: `${'{"a":'.repeat(levels)}null${'}'.repeat(levels)}`, tag: 'deep-object' };
  });

/** Strings around and far beyond the body limit (→ 413). */
const hugeStrings = fc
  .oneof(
    fc.integer({ min: 15_000, max: 70_000 }),
    fc.constant(BODY_LIMIT - 40),
    fc.constant(BODY_LIMIT + 1),
    fc.constant(1_048_576),
  )
  .chain((n) =>
    fc.constantFrom(
      `{"email":"${'a'.repeat(n)}@example.com","password":"x"}`,
      `{"refreshToken":"${'r'.repeat(n)}"}`,
      `{"roles":["${'a'.repeat(n)}"]}`,
      `"${'s'.repeat(n)}"`,
    ),
  )
  .map((text) => ({ text, tag: 'huge-string' }));

/** Bodies with invalid UTF-8 bytes, inside and outside JSON strings. */
const invalidUtf8Bodies = fc
  .tuple(
    fc.constantFrom(...INVALID_UTF8),
    fc.constantFrom(
      ['{"email":"', '@example.com","password":"Fz!invalid-utf8"}'],
      ['{"email":"fuzz.one@example.com","password":"', '"}'],
      ['{"refreshToken":"gh_rt_', '"}'],
      ['{"roles":["', '"]}'],
      ['{"', '":1}'],
      ['{"disabled":true', '}'],
      ['', ''],
    ),
  )
  .map(([bytes, [before, after]]) =>
    Buffer.concat([Buffer.from(before), Buffer.from(bytes), Buffer.from(after)]),
  );

// ---------------------------------------------------------------------------
// Content types

export const ODD_CONTENT_TYPES = [
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'application/json; charset=utf-16',
  'application/json;charset=UTF-8;foo=bar',
  'application/json; boundary=x',
  'application/json; q=0.1',
  'Application/JSON',
  'application/json ',
  ' application/json',
  'application/json;',
  'application/json, text/plain',
  'application/jsonp',
  'application/vnd.api+json',
  'application/merge-patch+json',
  'text/json',
  'text/plain',
  'text/plain; charset=utf-8',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=----fuzz',
  'multipart/form-data',
  'application/octet-stream',
  'application/xml',
  '*/*',
  '',
  'json',
  'application/',
  '/json',
  ';',
  'application/json\u0000',
  `application/json; charset=${latin1([0xff, 0xfe])}`,
  latin1([0xc3, 0x28]),
];

const MULTIPART_BODY =
  '------fuzz\r\nContent-Disposition: form-data; name="email"\r\n\r\nfuzz.one@example.com\r\n' +
  '------fuzz\r\nContent-Disposition: form-data; name="password"\r\n\r\nFz!multipart-password\r\n------fuzz--\r\n';

const contentTypeArb: fc.Arbitrary<string | string[] | null> = fc.oneof(
  { weight: 12, arbitrary: fc.constant('application/json') },
  { weight: 5, arbitrary: fc.constantFrom(...ODD_CONTENT_TYPES) },
  { weight: 1, arbitrary: fc.constant(null) }, // a body without a content type
  { weight: 1, arbitrary: fc.constant<string[]>(['application/json', 'text/plain']) },
);

export interface Body {
  payload?: string | Buffer;
  contentType: string | string[] | null;
  tags: string[];
}

/** A request body: none, a (near-)valid JSON object, arbitrary JSON, or one of the special payloads. */
export function bodyArb(known: Known, persona: Persona, method: string): fc.Arbitrary<Body> {
  const text = (arb: fc.Arbitrary<string>, tag: string) =>
    arb.map((t): { text: string | Buffer; tag: string } => ({ text: t, tag }));
  const payload = fc.oneof(
    { weight: 8, arbitrary: text(shapedObjectText(known, persona), 'shaped-json') },
    { weight: 4, arbitrary: text(validObjectText(known, persona), 'valid-json') },
    { weight: 3, arbitrary: text(jsonText, 'any-json') },
    { weight: 1, arbitrary: deepArrays },
    { weight: 1, arbitrary: deepObjects },
    { weight: 1, arbitrary: hugeStrings },
    { weight: 1, arbitrary: text(fc.constantFrom(...PROTO_PAYLOADS), 'proto-keys') },
    { weight: 1, arbitrary: text(fc.constantFrom(...MALFORMED_PAYLOADS), 'malformed-json') },
    { weight: 1, arbitrary: text(fc.constantFrom(...DUPLICATE_KEY_PAYLOADS), 'duplicate-keys') },
    { weight: 1, arbitrary: text(fc.constantFrom(...NUMBERS_AS_STRINGS_PAYLOADS), 'numbers-as-strings') },
    { weight: 1, arbitrary: text(fc.constantFrom(...BIG_NUMBER_PAYLOADS), 'big-numbers') },
    { weight: 1, arbitrary: invalidUtf8Bodies.map((bytes) => ({ text: bytes, tag: 'invalid-utf8-body' })) },
    { weight: 1, arbitrary: text(fc.constant(MULTIPART_BODY), 'multipart-body') },
  );
  const withBody = fc.tuple(payload, contentTypeArb).map(([{ text: body, tag }, contentType]) => ({
    payload: body,
    contentType,
    tags: [tag, contentType === 'application/json' ? 'json-content-type' : 'odd-content-type'],
  }));
  const none = fc.oneof(
    { weight: 4, arbitrary: fc.constant<Body>({ contentType: null, tags: ['no-body'] }) },
    {
      weight: 1,
      arbitrary: fc.constant<Body>({
        payload: '',
        contentType: 'application/json',
        tags: ['empty-json-body'],
      }),
    },
  );
  const bodiless = method === 'GET' || method === 'HEAD';
  return fc.oneof(
    { weight: bodiless ? 6 : 1, arbitrary: none },
    { weight: bodiless ? 1 : 6, arbitrary: withBody },
  );
}

// ---------------------------------------------------------------------------
// Query strings

const QUERY_KEYS = [
  'limit',
  'cursor',
  'email',
  'userId',
  'type',
  'id',
  'roles',
  '__proto__',
  'constructor',
  'prototype',
  '__proto__[polluted]',
  'constructor[prototype][polluted]',
  'a[b]',
  'limit[]',
  '',
];

const cursorArb = fc
  .tuple(
    fc.oneof(
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      fc.constantFrom(
        '0000-01-01T00:00:00.000Z',
        '1969-12-31T23:59:59.999Z',
        '9999-12-31T23:59:59.999Z',
        '2024-02-30T25:61:61.999Z',
        '2024-13-01T00:00:00.000Z',
      ),
    ),
    fc.uuid(),
  )
  .map(([at, id]) => Buffer.from(`${at}|${id}`).toString('base64url'));

const QUERY_VALUES = [
  '1',
  '0',
  '-1',
  '50',
  '100',
  '101',
  '1e2',
  '0x10',
  '1.5',
  '１０',
  ' 5',
  '5 ',
  '9'.repeat(400),
  '',
];

function queryValueArb(known: Known): fc.Arbitrary<{ text: string; raw: boolean }> {
  const encoded = (arb: fc.Arbitrary<string>) =>
    arb.filter(isEncodable).map((v) => ({ text: encodeURIComponent(v), raw: false }));
  return fc.oneof(
    { weight: 3, arbitrary: encoded(fc.constantFrom(...QUERY_VALUES)) },
    { weight: 2, arbitrary: encoded(cursorArb) },
    { weight: 1, arbitrary: encoded(fc.uuid()) },
    { weight: 1, arbitrary: encoded(emailArb(known)) },
    {
      weight: 1,
      arbitrary: encoded(fc.constantFrom('signup', 'signin_failed', 'roles_changed', 'user_deleted')),
    },
    { weight: 3, arbitrary: encoded(anyString) },
    {
      weight: 3,
      arbitrary: fc.constantFrom(...PERCENT_JUNK).map((junk) => ({ text: `a${junk}b`, raw: true })),
    },
    {
      weight: 1,
      arbitrary: fc.string({ unit: 'grapheme', maxLength: 10 }).map((s) => ({ text: s, raw: true })),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 200, max: 8_000 }).map((n) => ({ text: 'q'.repeat(n), raw: false })),
    },
  );
}

/** encodeURIComponent throws on lone surrogates. */
const isEncodable = (s: string) => !/[\ud800-\udfff]/.test(s.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ''));

export function queryArb(known: Known): fc.Arbitrary<{ query: string; tags: string[] }> {
  const key = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...QUERY_KEYS).map(encodeQueryKey) },
    { weight: 1, arbitrary: anyString.filter(isEncodable).map(encodeURIComponent) },
    { weight: 1, arbitrary: fc.constantFrom(...PERCENT_JUNK) },
  );
  const pair = fc.tuple(key, queryValueArb(known)).map(([k, v]) => ({ text: `${k}=${v.text}`, raw: v.raw }));
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant<{ query: string; tags: string[] }>({ query: '', tags: [] }) },
    {
      weight: 4,
      arbitrary: fc
        .tuple(fc.array(pair, { minLength: 1, maxLength: 5 }), fc.constantFrom('?', '?', '?', '??', '?&'))
        .map(([pairs, lead]) => ({
          query: lead + pairs.map((p) => p.text).join('&'),
          tags: pairs.some((p) => p.raw) ? ['query', 'query-raw-bytes'] : ['query'],
        })),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom('?', '?&&&', '?=', '?==', '?a', '?%', '?#x', '?a=1;b=2')
        .map((q) => ({ query: q, tags: ['query'] })),
    },
  );
}

/** Query keys as a client would send them: brackets encoded, the rest readable. */
const encodeQueryKey = (key: string) => encodeURIComponent(key);

// ---------------------------------------------------------------------------
// Path parameters

const NIL_UUID = '00000000-0000-0000-0000-000000000000';
const MAX_UUID = 'ffffffff-ffff-ffff-ffff-ffffffffffff';

/**
 * A path parameter. Which known ids may appear depends on who sends it: an
 * admin's state-changing request never names the victim, the admin itself or
 * the plain user (it could legitimately change them), only random ids and
 * scratch accounts; everyone else may name anyone (and must be refused).
 */
function paramArb(
  known: Known,
  persona: Persona,
  mutating: boolean,
): fc.Arbitrary<{ text: string; clean: boolean }> {
  const adminMutating = persona === 'admin' && mutating;
  const knownIds = adminMutating
    ? known.scratchIds
    : [known.victimId, ...known.victimSessionIds, ...known.adminIds, ...known.plainIds, ...known.scratchIds];
  const clean = (arb: fc.Arbitrary<string>) => arb.map((text) => ({ text, clean: text.length <= 100 }));
  return fc.oneof(
    { weight: 3, arbitrary: clean(fc.uuid()) },
    { weight: 1, arbitrary: clean(fc.uuid({ version: 7 })) },
    { weight: 1, arbitrary: clean(fc.constantFrom(NIL_UUID, MAX_UUID)) },
    { weight: 1, arbitrary: clean(fc.uuid().map((id) => id.toUpperCase())) },
    { weight: 5, arbitrary: clean(fc.constantFrom(...knownIds)) },
    ...(persona === 'anonymous' ? [] : [{ weight: 2, arbitrary: clean(fc.constant(REF.session)) }]),
    {
      weight: 2,
      arbitrary: clean(
        anyString
          .filter(isEncodable)
          .filter((s) => s !== '')
          .map(encodeURIComponent),
      ),
    },
    {
      weight: 2,
      arbitrary: fc.constantFrom(...PERCENT_JUNK).map((junk) => ({ text: `x${junk}`, clean: false })),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 90, max: 300 }).map((n) => ({ text: 'a'.repeat(n), clean: n <= 100 })),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(
          '.',
          '..',
          '%2e%2e',
          '%2F',
          'a%2Fb',
          ' ',
          '%20',
          '+',
          'me',
          'sessions',
          '*',
          '%2A',
          '%00',
        )
        .map((text) => ({ text, clean: false })),
    },
    {
      weight: 1,
      arbitrary: fc.uuid().map((id) => ({ text: `${id}%00`, clean: false })),
    },
  );
}

const PATH_SUFFIXES = ['/', '//', '/..', '/x', ';a=b', '%00', '.json', '?', '#fragment', '/%2e%2e', '%C3%28'];

function pathArb(route: Route, known: Known, persona: Persona, mutating: boolean) {
  const names = route.path.match(/:[A-Za-z]\w*|\*/g) ?? [];
  return fc
    .tuple(
      fc.array(paramArb(known, persona, mutating), { minLength: names.length, maxLength: names.length }),
      fc.oneof(
        { weight: 12, arbitrary: fc.constant('') },
        { weight: 1, arbitrary: fc.constantFrom(...PATH_SUFFIXES) },
      ),
    )
    .map(([params, suffix]) => {
      let index = 0;
      const path = route.path.replace(/:[A-Za-z]\w*|\*/g, () => params[index++]!.text) + suffix;
      const tags = params.some((p) => !p.clean)
        ? ['odd-path-param']
        : params.length > 0
          ? ['path-param']
          : [];
      if (suffix !== '') tags.push('path-suffix');
      return { path, clean: suffix === '' && params.every((p) => p.clean), tags };
    });
}

// ---------------------------------------------------------------------------
// Headers

/** Tokens a forger could make: `alg: none`, HS256 with guessable keys, naming the victim. */
function forgedTokens(known: Known): string[] {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: 'http://localhost:3000',
    aud: 'gatehouse',
    sub: known.victimId,
    sid: known.victimSessionIds[0],
    roles: ['admin', 'user'],
    iat: now,
    exp: now + 3600,
    jti: 'forged',
  };
  return [
    assemble({ alg: 'none', typ: 'at+jwt' }, claims),
    assemble({ alg: 'none', typ: 'at+jwt' }, claims, 'AAAA'),
    signHs256({ alg: 'HS256', typ: 'at+jwt' }, claims, ''),
    signHs256({ alg: 'HS256', typ: 'at+jwt', kid: '../../../../dev/null' }, claims, ''),
    signHs256({ alg: 'HS256', typ: 'at+jwt' }, claims, 'secret'),
    assemble({ alg: 'ES256', typ: 'at+jwt', kid: 'x' }, claims, 'c2lnbmF0dXJl'),
    assemble({ alg: 'ES256', typ: 'at+jwt', jku: 'https://evil.example/jwks.json' }, claims, 'c2ln'),
  ];
}

const JUNK_AUTHORIZATION = [
  'Bearer',
  'Bearer ',
  'bearer',
  'Bearer a.b.c',
  'Bearer not.a.jwt',
  'Bearer ....',
  'Basic dXNlcjpwYXNz',
  'Digest username="x"',
  'Token abc',
  'Bearer \u0000',
  `Bearer ${latin1([0xc3, 0x28, 0xff])}`,
  'Bearer a b',
  '',
  ' ',
];

function authorizationArb(
  known: Known,
  persona: Persona,
): fc.Arbitrary<{ value?: string | string[]; tags: string[] }> {
  const tagged = (arb: fc.Arbitrary<string | string[] | undefined>, tag: string) =>
    arb.map((value) => ({ value, tags: [tag] }));
  const own =
    persona === 'anonymous'
      ? []
      : [
          { weight: 14, arbitrary: tagged(fc.constant(`Bearer ${REF.access}`), 'own-token') },
          {
            weight: 2,
            arbitrary: tagged(
              fc.constantFrom(
                `bearer ${REF.access}`,
                `BEARER  ${REF.access}  `,
                `Bearer ${REF.access}x`,
                `Bearer ${REF.access.slice(0, 3)}`,
                `Bearer ${REF.refresh}`,
                `${REF.access}`,
                `Bearer ${REF.access} ${REF.access}`,
                `Bearer ${REF.access}${latin1([0xff])}`,
                `Bearer ${REF.access}\u0000`,
                [`Bearer ${REF.access}`, 'Bearer not.a.jwt'],
                ['Bearer not.a.jwt', `Bearer ${REF.access}`],
              ),
              'own-token-variant',
            ),
          },
        ];
  return fc.oneof(
    ...own,
    { weight: persona === 'anonymous' ? 8 : 3, arbitrary: tagged(fc.constant(undefined), 'no-token') },
    { weight: 2, arbitrary: tagged(fc.constantFrom(...JUNK_AUTHORIZATION), 'junk-token') },
    {
      weight: 1,
      arbitrary: tagged(
        fc.constantFrom(...forgedTokens(known)).map((t) => `Bearer ${t}`),
        'forged-token',
      ),
    },
    {
      weight: 1,
      arbitrary: tagged(
        anyString.map((s) => `Bearer ${s}`),
        'junk-token',
      ),
    },
    {
      weight: 1,
      arbitrary: tagged(
        fc.uint8Array({ maxLength: 40 }).map((b) => `Bearer ${Buffer.from(b).toString('latin1')}`),
        'invalid-utf8-header',
      ),
    },
  );
}

/** Header values: invalid UTF-8 (as the latin1 string Node makes of raw bytes), NUL, huge, unicode. */
const headerValueArb = fc.oneof(
  { weight: 3, arbitrary: anyString },
  { weight: 2, arbitrary: fc.constantFrom(...INVALID_UTF8).map(latin1) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b).toString('latin1')) },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 8_000 }).map((n) => 'h'.repeat(n)) },
);

const ipArb = fc
  .oneof(
    {
      weight: 4,
      arbitrary: fc.constantFrom('10.0.0.1', '10.0.0.2', '::1', '2001:db8::1', '::ffff:10.0.0.3'),
    },
    { weight: 1, arbitrary: fc.ipV4() },
    { weight: 1, arbitrary: fc.ipV6() },
  )
  .filter((ip) => !ip.startsWith(RESERVED_ADDRESS_PREFIX) && !ip.includes('192.0.2.'));

/** Where the request comes from; 127.0.0.1 is the trusted proxy (X-Forwarded-For is believed from it). */
export const remoteAddressArb = fc.oneof(
  { weight: 3, arbitrary: ipArb },
  { weight: 1, arbitrary: fc.constant('127.0.0.1') },
);

/** `arb` one time in `oneIn`, otherwise absent. */
const sometimes = <T>(arb: fc.Arbitrary<T>, oneIn = 4): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: oneIn - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });

export function headersArb(
  known: Known,
  persona: Persona,
): fc.Arbitrary<{ headers: Record<string, string | string[]>; tags: string[] }> {
  return fc
    .record({
      authorization: authorizationArb(known, persona),
      'user-agent': sometimes(fc.oneof(fc.constant('fuzz/1.0'), headerValueArb), 3),
      'x-request-id': sometimes(
        fc.oneof(fc.constantFrom('req-1', 'a'.repeat(128), 'a'.repeat(129), 'a b', '../x'), headerValueArb),
      ),
      'x-forwarded-for': sometimes(
        fc.oneof(
          fc.array(ipArb, { minLength: 1, maxLength: 3 }).map((ips) => ips.join(', ')),
          fc.constantFrom('unknown', '', ',,,', '1.2.3.4, evil', '::ffff:1.2.3.4', '999.1.1.1', 'a\u0000b'),
          headerValueArb,
        ),
      ),
      accept: sometimes(
        fc.constantFrom('text/html', '*/*', 'application/xml', 'application/json;q=0', '', '\u0000'),
      ),
      'accept-encoding': sometimes(fc.constantFrom('gzip, deflate, br', 'identity;q=0', '*;q=0', 'x'), 8),
      origin: sometimes(fc.constantFrom('https://evil.example', 'null', latin1([0xff])), 8),
      host: sometimes(fc.constantFrom('evil.example', 'a:b:c', 'localhost:0', latin1([0xc3, 0x28])), 10),
      'content-encoding': sometimes(fc.constantFrom('gzip', 'br', 'identity', 'x'), 12),
      'transfer-encoding': sometimes(fc.constantFrom('chunked', 'gzip, chunked', 'x'), 16),
      'content-length': sometimes(fc.constantFrom('0', '1', '-1', 'abc', '99999999', '1e3', ' 5'), 16),
      extra: sometimes(fc.tuple(fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/), headerValueArb)),
    })
    .map((generated) => {
      const headers: Record<string, string | string[]> = {};
      const tags = [...generated.authorization.tags];
      if (generated.authorization.value !== undefined) headers.authorization = generated.authorization.value;
      for (const [name, value] of Object.entries(generated)) {
        if (name === 'authorization' || name === 'extra' || value === undefined) continue;
        headers[name] = value as string;
        tags.push(`header:${name}`);
      }
      if (generated.extra) headers[generated.extra[0]] = generated.extra[1];
      const values = Object.values(REF).reduce(
        (text, ref) => text.replaceAll(ref, ''),
        Object.values(headers).flat().join(' '),
      );
      if ([...values].some((char) => char < ' ' || char > '~')) tags.push('odd-header-bytes');
      return { headers, tags };
    });
}

// ---------------------------------------------------------------------------
// Whole requests

/** Methods other than the route's: every method Node knows (light-my-request refuses others). */
export const ODD_METHODS = METHODS.filter((m) => m !== 'CONNECT');

/**
 * `routes` with a weight each: the fuzzer spends its budget where it finds
 * the most (routes that take bodies), and less on the slow static ones.
 */
export type WeightedRoute = Route & { weight: number };

export function requestArb(
  routes: WeightedRoute[],
  known: Known,
  persona: Persona,
): fc.Arbitrary<FuzzRequest> {
  // Arbitraries are built once per route and method kind, not per generated request.
  const cache = new Map<string, fc.Arbitrary<FuzzRequest>>();
  const shared = { query: queryArb(known), headers: headersArb(known, persona) };
  const bodies = { bodiless: bodyArb(known, persona, 'GET'), withBody: bodyArb(known, persona, 'POST') };
  const forRoute = (route: Route, method: string, oddMethod: boolean) => {
    const mutating = method !== 'GET' && method !== 'HEAD';
    const key = `${route.method} ${route.path} ${method}`;
    let arb = cache.get(key);
    if (!arb) {
      arb = fc
        .record({
          path: pathArb(route, known, persona, mutating),
          query: shared.query,
          headers: shared.headers,
          body: mutating ? bodies.withBody : bodies.bodiless,
          remoteAddress: remoteAddressArb,
        })
        .map(({ path, query, headers, body, remoteAddress }): FuzzRequest => {
          const allHeaders = { ...headers.headers };
          if (body.contentType !== null) allHeaders['content-type'] = body.contentType;
          return {
            persona,
            route,
            method,
            path: path.path,
            cleanPath: path.clean,
            query: query.query,
            headers: allHeaders,
            payload: body.payload,
            remoteAddress,
            tags: [
              ...(oddMethod ? ['odd-method'] : []),
              ...path.tags,
              ...query.tags,
              ...headers.tags,
              ...body.tags,
            ],
          };
        });
      cache.set(key, arb);
    }
    return arb;
  };
  return fc
    .tuple(
      fc.oneof(...routes.map(({ weight, ...route }) => ({ weight, arbitrary: fc.constant(route) }))),
      fc.oneof(
        { weight: 8, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.constantFrom(...ODD_METHODS) },
      ),
    )
    .chain(([route, oddMethod]) => forRoute(route, oddMethod ?? route.method, oddMethod !== undefined))
    .filter((request) => !targetsProtectedAccount(request, known));
}

/**
 * The rule the generators follow, checked once more on the finished request:
 * nothing names the victim's email (a signin attempt would be an event about
 * the victim), and an admin's state-changing request names none of the
 * victim, the admin itself and the plain user.
 */
export function targetsProtectedAccount(request: FuzzRequest, known: Known): boolean {
  const payload =
    typeof request.payload === 'string' ? request.payload : (request.payload?.toString('latin1') ?? '');
  const texts = [request.path, request.query, payload];
  const mentions = (needle: string) => {
    const pattern = new RegExp(needle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
    return texts.some((text) => pattern.test(text));
  };
  if (mentions(known.victimEmail)) return true;
  if (request.persona === 'admin' && request.method !== 'GET' && request.method !== 'HEAD') {
    return [known.victimId, ...known.victimSessionIds, ...known.adminIds, ...known.plainIds].some(mentions);
  }
  return false;
}
