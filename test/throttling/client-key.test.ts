import { describe, expect, it } from 'vitest';
import { clientKey } from '../../src/throttling/client-key.js';

describe('clientKey', () => {
  it('keeps an IPv4 address as it is', () => {
    expect(clientKey('203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('127.0.0.1')).toBe('127.0.0.1');
  });

  it('treats an IPv4-mapped IPv6 address as the IPv4 address, in either spelling', () => {
    expect(clientKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('::FFFF:203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('::ffff:cb00:7107')).toBe('203.0.113.7');
    expect(clientKey('0:0:0:0:0:ffff:203.0.113.7')).toBe('203.0.113.7');
  });

  it('groups IPv6 addresses by their /64 prefix', () => {
    const key = clientKey('2001:db8:1:2::5');
    expect(key).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe(key);
    expect(clientKey('2001:0DB8:0001:0002:0:0:0:9')).toBe(key);
    expect(clientKey('2001:db8:1:3::5')).not.toBe(key);
    expect(clientKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
  });

  it('drops an IPv6 zone id', () => {
    expect(clientKey('fe80::1%eth0')).toBe(clientKey('fe80::2'));
  });

  it('does not group IPv4 addresses (each is its own client)', () => {
    expect(clientKey('203.0.113.7')).not.toBe(clientKey('203.0.113.8'));
  });

  it('leaves something that is not an IP address as it is', () => {
    expect(clientKey('')).toBe('');
    expect(clientKey('unix-socket')).toBe('unix-socket');
    expect(clientKey('2001:db8::1::2')).toBe('2001:db8::1::2');
  });
});
