import { describe, expect, it } from 'vitest';
import { tokenMatches } from '../../src/metrics/metrics-token.guard.js';
import { MetricsService } from '../../src/metrics/metrics.service.js';

const line = (text: string, prefix: string) => text.split('\n').find((l) => l.startsWith(prefix));

describe('MetricsService', () => {
  it('counts requests and auth events in a registry of its own', async () => {
    const one = new MetricsService();
    const two = new MetricsService();
    one.record({
      method: 'POST',
      route: '/auth/signin',
      status: 429,
      durationSeconds: 0.002,
      errorCode: 'too_many_requests',
    });
    one.record({
      method: 'GET',
      route: undefined,
      status: 404,
      durationSeconds: 0.001,
      errorCode: 'not_found',
    });

    const text = await one.text();
    expect(line(text, 'gatehouse_auth_events_total{event="throttled"}')).toMatch(/ 1$/);
    expect(line(text, 'gatehouse_auth_events_total{event="signin_failed"}')).toMatch(/ 0$/);
    expect(
      line(text, 'gatehouse_http_requests_total{method="POST",route="/auth/signin",status="429"}'),
    ).toMatch(/ 1$/);
    expect(line(text, 'gatehouse_http_requests_total{method="GET",route="unmatched",status="404"}')).toMatch(
      / 1$/,
    );
    expect(line(text, 'gatehouse_http_request_duration_seconds_bucket{le="0.005",method="POST"')).toMatch(
      / 1$/,
    );
    expect(line(text, 'process_cpu_user_seconds_total')).toBeDefined();

    const other = await two.text();
    expect(line(other, 'gatehouse_auth_events_total{event="throttled"}')).toMatch(/ 0$/);
    expect(line(other, 'gatehouse_http_requests_total{')).toBeUndefined();
    expect(line(other, 'process_cpu_user_seconds_total')).toBeDefined();
    expect(one.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });
});

describe('tokenMatches', () => {
  it('accepts the token itself only', () => {
    expect(tokenMatches('s3cret-token', 's3cret-token')).toBe(true);
    expect(tokenMatches('s3cret-token ', 's3cret-token')).toBe(false);
    expect(tokenMatches('s3cret-toke', 's3cret-token')).toBe(false);
    expect(tokenMatches('', 's3cret-token')).toBe(false);
    expect(tokenMatches('S3CRET-TOKEN', 's3cret-token')).toBe(false);
  });
});
