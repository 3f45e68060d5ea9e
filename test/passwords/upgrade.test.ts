import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { users } from '../../src/database/schema.js';
import { PasswordHasher } from '../../src/passwords/password-hasher.service.js';
import { expectError, GOOD_PASSWORD, uniqueEmail } from '../support/http.js';
import { useTestApp } from '../support/test-app.js';

describe('password hash upgrade', () => {
  const { t, http } = useTestApp();

  async function hashOf(id: string): Promise<string> {
    const [row] = await t.connection.db.select().from(users).where(eq(users.id, id));
    return row!.passwordHash;
  }

  it('rehashes a hash made with older parameters at the next successful signin', async () => {
    const user = await http.signup();
    const weak = await new PasswordHasher({ memoryCost: 4096, timeCost: 1 }).hash(GOOD_PASSWORD);
    await t.connection.db.update(users).set({ passwordHash: weak }).where(eq(users.id, user.id));

    // A failed signin changes nothing.
    expectError(
      await http.post('/auth/signin', { body: { email: user.email, password: 'wrong password!' } }),
      401,
      'invalid_credentials',
    );
    expect(await hashOf(user.id)).toBe(weak);

    await http.signin(user.email);
    const upgraded = await hashOf(user.id);
    expect(upgraded).not.toBe(weak);
    expect(upgraded).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    await http.signin(user.email); // and the password still works
  });

  it('does not touch a hash that already has the current parameters', async () => {
    const user = await http.signup(uniqueEmail());
    const before = await hashOf(user.id);
    await http.signin(user.email);
    expect(await hashOf(user.id)).toBe(before);
  });
});
