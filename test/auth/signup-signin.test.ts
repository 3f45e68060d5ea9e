import { eq, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { users } from '../../src/database/schema.js';
import { expectError, GOOD_PASSWORD, type Reply, uniqueEmail } from '../support/http.js';
import { useTestApp } from '../support/test-app.js';
import { decodeJwt, dumpDatabase, NO_THROTTLE, REFRESH_TOKEN_SHAPE, UUID } from '../support/tokens.js';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** A unique email whose local part has the given prefix, on a short domain. */
const uniqueLocal = (prefix: string) =>
  `${prefix}.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`;

describe('signup and signin', () => {
  const { t, http } = useTestApp(NO_THROTTLE);

  async function countUsers(email: string): Promise<number> {
    const rows = await t.connection.db
      .select({ id: users.id })
      .from(users)
      .where(sql`lower(${users.email}) = lower(${email.trim()})`);
    return rows.length;
  }

  function expectFieldError(reply: Reply, field: string): void {
    expectError(reply, 400, 'validation_failed');
    expect(Array.isArray(reply.body.errors), reply.text).toBe(true);
    for (const error of reply.body.errors) {
      expect(error).toEqual({ field: expect.any(String), message: expect.any(String) });
    }
    expect(
      reply.body.errors.map((e: { field: string }) => e.field),
      reply.text,
    ).toContain(field);
  }

  describe('signup', () => {
    it('answers 201 with the contract shape', async () => {
      const email = uniqueEmail('shape');
      const reply = await http.post('/auth/signup', { body: { email, password: GOOD_PASSWORD } });
      expect(reply.status, reply.text).toBe(201);
      expect(Object.keys(reply.body).sort()).toEqual(
        ['accessToken', 'email', 'expiresIn', 'id', 'refreshToken', 'roles', 'tokenType'].sort(),
      );
      expect(reply.body.id).toMatch(UUID);
      expect(reply.body.email).toBe(email);
      expect(reply.body.roles).toEqual(['user']);
      expect(reply.body.tokenType).toBe('Bearer');
      expect(reply.body.expiresIn).toBe(900);
      expect(reply.body.refreshToken).toMatch(REFRESH_TOKEN_SHAPE);
      const { header, payload } = decodeJwt(reply.body.accessToken);
      expect(header.typ).toBe('at+jwt');
      expect(payload.sub).toBe(reply.body.id);
      expect(payload.exp - payload.iat).toBe(900);

      const me = await http.get('/users/me', { token: reply.body.accessToken });
      expect(me.status, me.text).toBe(200);
      expect(me.body.id).toBe(reply.body.id);
    });

    it('trims the email, and treats differently-cased addresses as one account', async () => {
      const local = uniqueLocal('Case');
      const first = await http.post('/auth/signup', {
        body: { email: `  ${local}@Example.IO\t`, password: GOOD_PASSWORD },
      });
      expect(first.status, first.text).toBe(201);
      expect(first.body.email).not.toMatch(/^\s|\s$/);
      expect(first.body.email.toLowerCase()).toBe(`${local}@example.io`.toLowerCase());

      for (const variant of [
        `${local}@example.io`,
        ` ${local.toLowerCase()}@EXAMPLE.io `,
        local.toUpperCase() + '@example.IO',
      ]) {
        const again = await http.post('/auth/signup', { body: { email: variant, password: GOOD_PASSWORD } });
        expectError(again, 409, 'email_taken');
      }
      expect(await countUsers(`${local}@example.io`)).toBe(1);

      // Signin with any casing and surrounding spaces reaches the same account.
      const signin = await http.signin(`  ${local.toUpperCase()}@example.io `);
      expect(signin.id).toBe(first.body.id);
    });

    it('answers 409 email_taken for A@x.io after a@X.io', async () => {
      const local = uniqueLocal('a');
      await http.signup(`${local.toUpperCase()}@x.io`);
      const reply = await http.post('/auth/signup', {
        body: { email: ` ${local.toLowerCase()}@X.io `, password: 'another fine passphrase' },
      });
      expectError(reply, 409, 'email_taken');
      // The original password still works: the account was not overwritten.
      await http.signin(`${local}@x.io`);
      const wrong = await http.post('/auth/signin', {
        body: { email: `${local}@x.io`, password: 'another fine passphrase' },
      });
      expectError(wrong, 401, 'invalid_credentials');
    });

    it('creates one account when two differently-cased signups race', async () => {
      const local = uniqueLocal('race');
      const replies = await Promise.all([
        http.post('/auth/signup', { body: { email: `${local}@race.io`, password: GOOD_PASSWORD } }),
        http.post('/auth/signup', {
          body: { email: `${local.toUpperCase()}@RACE.IO`, password: GOOD_PASSWORD },
        }),
      ]);
      expect(replies.map((r) => r.status).sort()).toEqual([201, 409]);
      expectError(
        replies.find((r) => r.status === 409)!,
        409,
        'email_taken',
      );
      expect(await countUsers(`${local}@race.io`)).toBe(1);
    });

    it.each(['role', 'roles', 'isAdmin'])(
      'refuses the unknown field %s with 400 and creates no user',
      async (field) => {
        const email = uniqueEmail(`unknown-${field}`);
        const value = field === 'roles' ? ['admin'] : field === 'isAdmin' ? true : 'admin';
        const reply = await http.post('/auth/signup', {
          body: { email, password: GOOD_PASSWORD, [field]: value },
        });
        expectFieldError(reply, field);
        expect(await countUsers(email)).toBe(0);
        // And the address is still free afterwards.
        const later = await http.signup(email);
        expect(later.roles).toEqual(['user']);
      },
    );

    describe('password policy', () => {
      const rejected: [string, string][] = [
        ['7 characters', 'zx8Vq!p'],
        ['129 characters', 'k9#Tq'.repeat(26).slice(0, 129)],
        ['a common password (password1)', 'password1'],
        ['a common password (qwertyuiop)', 'qwertyuiop'],
        ['7 characters counted as code points (emoji)', '🦊🦊🦊🦊🦊🦊🦊'],
      ];
      it.each(rejected)('rejects %s with 400 and creates no user', async (_label, password) => {
        const email = uniqueEmail('weak');
        const reply = await http.post('/auth/signup', { body: { email, password } });
        expectFieldError(reply, 'password');
        expect(reply.text).not.toContain(password);
        expect(await countUsers(email)).toBe(0);
      });

      const accepted: [string, string][] = [
        ['8 characters', 'zx8Vq!pW'],
        ['128 characters', 'k9#Tq'.repeat(26).slice(0, 128)],
        ['128 emoji (128 characters, 256 UTF-16 units)', '🦊'.repeat(128)],
        ['no composition rules: lowercase letters only', 'glacierpinecobbler'],
      ];
      it.each(accepted)('accepts %s and the password then signs in', async (_label, password) => {
        const user = await http.signup(uniqueEmail('ok'), password);
        const signin = await http.signin(user.email, password);
        expect(signin.id).toBe(user.id);
      });

      it('keeps leading and trailing spaces: the trimmed password does not sign in', async () => {
        const password = `  ${GOOD_PASSWORD}  `;
        const user = await http.signup(uniqueEmail('spaces'), password);
        for (const variant of [GOOD_PASSWORD, `${GOOD_PASSWORD}  `, `  ${GOOD_PASSWORD}`]) {
          const reply = await http.post('/auth/signin', { body: { email: user.email, password: variant } });
          expectError(reply, 401, 'invalid_credentials');
        }
        await http.signin(user.email, password);
      });
    });

    describe('email validation', () => {
      // 64 + 1 + 189 = 254 characters, every DNS label under 64.
      const domain189 = `${'d'.repeat(56)}.${'e'.repeat(60)}.${'f'.repeat(60)}.example.io`;
      const local64 = () => `${uniqueLocal('l')}`.padEnd(64, 'x').slice(0, 64);

      it('accepts an email of exactly 254 characters (after trimming)', async () => {
        const email = `${local64()}@${domain189}`;
        expect(domain189).toHaveLength(189);
        expect(email).toHaveLength(254);
        const reply = await http.post('/auth/signup', {
          body: { email: `  ${email}  `, password: GOOD_PASSWORD },
        });
        expect(reply.status, reply.text).toBe(201);
      });

      it('rejects an email of 255 characters', async () => {
        const email = `${local64()}@g${domain189}`;
        expect(email).toHaveLength(255);
        const reply = await http.post('/auth/signup', { body: { email, password: GOOD_PASSWORD } });
        expectFieldError(reply, 'email');
        expect(await countUsers(email)).toBe(0);
      });

      it.each(['not-an-email', 'a@', '@example.io', 'two words@example.io', 'a@b@example.io', '', '   '])(
        'rejects %j',
        async (email) => {
          const reply = await http.post('/auth/signup', { body: { email, password: GOOD_PASSWORD } });
          expectFieldError(reply, 'email');
        },
      );
    });

    describe('malformed bodies', () => {
      it('rejects an empty object, naming both fields', async () => {
        const reply = await http.post('/auth/signup', { body: {} });
        expectFieldError(reply, 'email');
        expectFieldError(reply, 'password');
      });

      it('rejects a missing password', async () => {
        const email = uniqueEmail('nopw');
        expectFieldError(await http.post('/auth/signup', { body: { email } }), 'password');
        expect(await countUsers(email)).toBe(0);
      });

      it('rejects a missing email', async () => {
        expectFieldError(await http.post('/auth/signup', { body: { password: GOOD_PASSWORD } }), 'email');
      });

      const wrongTypes: [string, Record<string, unknown>, string][] = [
        ['numeric email', { email: 12345, password: GOOD_PASSWORD }, 'email'],
        ['array email', { email: ['a@example.io'], password: GOOD_PASSWORD }, 'email'],
        ['object email', { email: { $ne: null }, password: GOOD_PASSWORD }, 'email'],
        ['numeric password', { email: 'n@example.io', password: 1234567890 }, 'password'],
        ['null password', { email: 'n@example.io', password: null }, 'password'],
        ['boolean password', { email: 'n@example.io', password: true }, 'password'],
        ['array password', { email: 'n@example.io', password: [GOOD_PASSWORD] }, 'password'],
      ];
      it.each(wrongTypes)('rejects a %s', async (_label, body, field) => {
        expectFieldError(await http.post('/auth/signup', { body }), field);
      });

      it.each(['[]', '"a@example.io"', 'null', '42'])('rejects the JSON body %s', async (payload) => {
        const reply = await http.post('/auth/signup', {
          payload,
          headers: { 'content-type': 'application/json' },
        });
        expectError(reply, 400, 'validation_failed');
      });

      it('rejects the same errors at signin', async () => {
        expectFieldError(await http.post('/auth/signin', { body: { email: 'x@example.io' } }), 'password');
        expectFieldError(await http.post('/auth/signin', { body: { email: 5, password: 'x' } }), 'email');
        expectFieldError(
          await http.post('/auth/signin', {
            body: { email: 'x@example.io', password: 'xxxxxxxx', isAdmin: true },
          }),
          'isAdmin',
        );
      });
    });
  });

  describe('signin', () => {
    it('answers 200 with the same shape as signup, for the same user', async () => {
      const user = await http.signup();
      const reply = await http.post('/auth/signin', { body: { email: user.email, password: user.password } });
      expect(reply.status, reply.text).toBe(200);
      expect(Object.keys(reply.body).sort()).toEqual(
        ['accessToken', 'email', 'expiresIn', 'id', 'refreshToken', 'roles', 'tokenType'].sort(),
      );
      expect(reply.body).toMatchObject({
        id: user.id,
        email: user.email,
        roles: ['user'],
        tokenType: 'Bearer',
        expiresIn: 900,
      });
      expect(reply.body.refreshToken).toMatch(REFRESH_TOKEN_SHAPE);
      expect(reply.body.refreshToken).not.toBe(user.refreshToken);
      expect(reply.body.accessToken).not.toBe(user.accessToken);
    });

    it('refuses a wrong password (not "any password signs in")', async () => {
      const user = await http.signup(uniqueEmail('anypw'), 'the real passphrase 42');
      const other = await http.signup(uniqueEmail('other'), 'someone elses passphrase');
      const attempts = [
        'definitely not it',
        'the real passphrase 4',
        'the real passphrase 42 ',
        'THE REAL PASSPHRASE 42',
        'the real passphrase 420',
        other.password,
        GOOD_PASSWORD,
      ];
      for (const password of attempts) {
        const reply = await http.post('/auth/signin', { body: { email: user.email, password } });
        expectError(reply, 401, 'invalid_credentials');
        expect(reply.body.accessToken).toBeUndefined();
        expect(reply.text).not.toContain(password);
      }
      // An empty password never signs in either (400 or 401, but never 200).
      const empty = await http.post('/auth/signin', { body: { email: user.email, password: '' } });
      expect([400, 401], empty.text).toContain(empty.status);
      await http.signin(user.email, 'the real passphrase 42');
    });

    it('answers unknown email and wrong password with byte-identical 401 bodies', async () => {
      const user = await http.signup();
      const wrongPassword = await http.post('/auth/signin', {
        body: { email: user.email, password: 'not the password at all' },
      });
      const unknownEmail = await http.post('/auth/signin', {
        body: { email: uniqueEmail('nobody'), password: 'not the password at all' },
      });
      expectError(wrongPassword, 401, 'invalid_credentials');
      expectError(unknownEmail, 401, 'invalid_credentials');
      expect(unknownEmail.text).toBe(wrongPassword.text);
      expect(unknownEmail.headers['content-type']).toBe(wrongPassword.headers['content-type']);
      expect(unknownEmail.headers['content-length']).toBe(wrongPassword.headers['content-length']);
    });

    it('opens a new session on every signin, and the earlier session keeps working', async () => {
      const user = await http.signup();
      const second = await http.signin(user.email);
      const sessions = await http.get('/auth/sessions', { token: second.accessToken });
      expect(sessions.status, sessions.text).toBe(200);
      expect(sessions.body).toHaveLength(2);
      const sids = [decodeJwt(user.accessToken).payload.sid, decodeJwt(second.accessToken).payload.sid];
      expect(sids[0]).not.toBe(sids[1]);
      expect(sessions.body.map((s: { id: string }) => s.id).sort()).toEqual([...sids].sort());

      // The first session's access and refresh tokens are untouched by the second signin.
      const me = await http.get('/users/me', { token: user.accessToken });
      expect(me.status, me.text).toBe(200);
      const refreshed = await http.post('/auth/refresh', { body: { refreshToken: user.refreshToken } });
      expect(refreshed.status, refreshed.text).toBe(200);
      const third = await http.signin(user.email);
      const after = await http.get('/auth/sessions', { token: third.accessToken });
      expect(after.body).toHaveLength(3);
    });
  });

  describe('stored state and /users/me', () => {
    it('stores an argon2id hash, never the password', async () => {
      const password = 'a very particular passphrase 9';
      const a = await http.signup(uniqueEmail('hash-a'), password);
      const b = await http.signup(uniqueEmail('hash-b'), password);
      const rows = await t.connection.db
        .select()
        .from(users)
        .where(sql`${users.id} in (${a.id}, ${b.id})`);
      expect(rows).toHaveLength(2);
      for (const row of rows) {
        expect(row.passwordHash).toMatch(
          /^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/,
        );
        expect(row.passwordHash).not.toContain(password);
      }
      // Salted: the same password gives different hashes.
      expect(rows[0]!.passwordHash).not.toBe(rows[1]!.passwordHash);
      // Nowhere in the database, in any column of any table.
      const dump = await dumpDatabase(t.connection);
      expect(dump).not.toContain(password);
      expect(dump).not.toContain(Buffer.from(password).toString('base64'));
      expect(dump).not.toContain(Buffer.from(password).toString('hex'));
    });

    it('GET /users/me returns id, email, emailVerified, roles, mfaEnabled, createdAt, updatedAt and nothing secret', async () => {
      const user = await http.signup();
      const me = await http.get('/users/me', { token: user.accessToken });
      expect(me.status, me.text).toBe(200);
      expect(Object.keys(me.body).sort()).toEqual([
        'createdAt',
        'email',
        'emailVerified',
        'id',
        'mfaEnabled',
        'roles',
        'updatedAt',
      ]);
      expect(me.body).toMatchObject({ id: user.id, email: user.email, roles: ['user'], mfaEnabled: false });
      expect(me.body.createdAt).toMatch(ISO);
      expect(me.body.updatedAt).toMatch(ISO);
      expect(Math.abs(Date.parse(me.body.createdAt) - Date.now())).toBeLessThan(60_000);
      const [row] = await t.connection.db.select().from(users).where(eq(users.id, user.id));
      expect(me.text).not.toContain(row!.passwordHash);
      expect(me.text).not.toMatch(/argon2|hash|password/i);
      expect(me.text).not.toContain(user.refreshToken);
    });

    it('never grants admin at signup: roles claim, response and /users/me all say user', async () => {
      const user = await http.signup(uniqueEmail('admin'));
      expect(user.roles).toEqual(['user']);
      expect(decodeJwt(user.accessToken).payload.roles).toEqual(['user']);
      const me = await http.get('/users/me', { token: user.accessToken });
      expect(me.body.roles).toEqual(['user']);
      const [row] = await t.connection.db
        .select({ roles: users.roles })
        .from(users)
        .where(eq(users.id, user.id));
      expect(row!.roles).toEqual(['user']);
      // Smuggled through a nested or differently named field: refused, not ignored.
      for (const extra of [
        { Roles: ['admin'] },
        { user: { roles: ['admin'] } },
        { __proto__x: 1, admin: true },
      ]) {
        const reply = await http.post('/auth/signup', {
          body: { email: uniqueEmail('smuggle'), password: GOOD_PASSWORD, ...extra },
        });
        expectError(reply, 400, 'validation_failed');
      }
      // A prototype-pollution payload neither creates an admin nor a 500.
      const email = uniqueEmail('proto');
      const proto = await http.post('/auth/signup', {
        payload: `{"email":"${email}","password":"${GOOD_PASSWORD}","__proto__":{"roles":["admin"]}}`,
        headers: { 'content-type': 'application/json' },
      });
      expect(proto.status, proto.text).toBe(400);
      expect(await countUsers(email)).toBe(0);
    });
  });
});
