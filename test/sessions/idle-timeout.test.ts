import { afterEach, describe, expect, it, vi } from 'vitest';
import { expectError } from '../support/http.js';
import { useTestApp } from '../support/test-app.js';
import { NO_THROTTLE } from '../support/tokens.js';

const IDLE_SECONDS = 60;

/**
 * SESSION_IDLE_TIMEOUT against access tokens. Only `Date` is faked (the
 * service reads the time through it); timers, I/O and the database run for
 * real. The access tokens live 15 minutes, far beyond the idle timeout.
 */
describe('an idle-expired session refuses its access tokens', () => {
  const { http } = useTestApp({
    ...NO_THROTTLE,
    SESSION_IDLE_TIMEOUT: `${IDLE_SECONDS}s`,
    ACCESS_TOKEN_TTL: '15m',
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Moves the clock of this process forward. */
  function advance(seconds: number): void {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + seconds * 1000);
  }

  it('answers 401 session_revoked once the session was idle longer than the timeout, though it was cached', async () => {
    const user = await http.signup();
    // Used now: the session state is cached by this instance.
    expect((await http.get('/users/me', { token: user.accessToken })).status).toBe(200);

    advance(IDLE_SECONDS - 5);
    // Using the access token does not keep the session alive: only a refresh does.
    expect((await http.get('/users/me', { token: user.accessToken })).status).toBe(200);

    advance(10); // idle for IDLE_SECONDS + 5: the access token itself is still 14 minutes from expiry
    expectError(await http.get('/users/me', { token: user.accessToken }), 401, 'session_revoked');
    expectError(
      await http.post('/auth/refresh', { body: { refreshToken: user.refreshToken } }),
      401,
      'invalid_refresh_token',
    );
  });

  it('a refresh moves the idle end: the session goes on, its older access tokens too', async () => {
    const user = await http.signup();
    expect((await http.get('/users/me', { token: user.accessToken })).status).toBe(200); // cached

    advance(IDLE_SECONDS - 10);
    const refreshed = await http.post('/auth/refresh', { body: { refreshToken: user.refreshToken } });
    expect(refreshed.status, refreshed.text).toBe(200);

    // Past the first idle end, within the one the refresh started: the cached state is
    // stale (a refresh notifies no one) and must be read again, not believed.
    advance(20);
    expect((await http.get('/users/me', { token: refreshed.body.accessToken })).status).toBe(200);
    expect((await http.get('/users/me', { token: user.accessToken })).status).toBe(200);
    const sessions = await http.get('/auth/sessions', { token: refreshed.body.accessToken });
    expect(sessions.status).toBe(200);
    expect(sessions.body).toHaveLength(1);

    advance(IDLE_SECONDS);
    expectError(await http.get('/users/me', { token: refreshed.body.accessToken }), 401, 'session_revoked');
  });
});
