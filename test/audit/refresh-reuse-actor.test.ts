import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminApp, signinRoot } from '../support/admin.js';
import { type AuthBody, expectError, Http, uniqueEmail } from '../support/http.js';
import type { TestApp } from '../support/test-app.js';
import { decodeJwt } from '../support/tokens.js';

/**
 * Whoever presents a retired refresh token is not authenticated: it may be a
 * thief replaying a stolen token, or the victim's own client. The audit row
 * names the account affected (`userId`) but no actor — recording the victim
 * as the one who acted would blame them for the attack.
 */
describe('refresh_token_reused: the presenter is not authenticated', () => {
  let t: TestApp;
  let http: Http;
  let admin: AuthBody;

  beforeAll(async () => {
    t = await createAdminApp({ REFRESH_REUSE_GRACE: '0' });
    http = new Http(t.app);
    admin = await signinRoot(http);
  });
  afterAll(() => t.close());

  it('records the victim as userId and no actorId', async () => {
    const victim = await http.signup(uniqueEmail('reuse-victim'));
    const sessionId = decodeJwt(victim.accessToken).payload.sid as string;
    // The victim's client rotates; a thief replays the retired token from another client.
    const rotated = await http.post('/auth/refresh', { body: { refreshToken: victim.refreshToken } });
    expect(rotated.status, rotated.text).toBe(200);
    const replay = await http.post('/auth/refresh', {
      body: { refreshToken: victim.refreshToken },
      headers: { 'user-agent': 'thief/1.0' },
    });
    expectError(replay, 401, 'refresh_token_reused');

    const events = await http.get(`/audit-events?type=refresh_token_reused&userId=${victim.id}`, {
      token: admin.accessToken,
    });
    expect(events.status, events.text).toBe(200);
    expect(events.body).toHaveLength(1);
    expect(events.body[0]).toMatchObject({
      type: 'refresh_token_reused',
      userId: victim.id,
      actorId: null,
      userAgent: 'thief/1.0',
      detail: { sessionId },
    });
  });
});
