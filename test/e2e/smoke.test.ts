import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Http } from '../support/http.js';
import { createTestApp, type TestApp } from '../support/test-app.js';

describe('smoke', () => {
  let t: TestApp;
  let http: Http;
  beforeAll(async () => {
    t = await createTestApp();
    http = new Http(t.app);
  });
  afterAll(() => t.close());

  it('signs up and reads me', async () => {
    const user = await http.signup();
    const me = await http.get('/users/me', { token: user.accessToken });
    expect(me.status, me.text).toBe(200);
  });
});
