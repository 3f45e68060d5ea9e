import { describe, expect, it } from 'vitest';

import { PasswordPolicy } from '../../src/passwords/password-policy.service.js';

const TOO_COMMON = 'is too common (found in a list of common passwords)';

describe('PasswordPolicy', () => {
  const policy = new PasswordPolicy({ minLength: 8, maxLength: 128 });

  it('defaults to 8..128 when constructed without options', () => {
    const defaults = new PasswordPolicy();
    expect([defaults.minLength, defaults.maxLength]).toEqual([8, 128]);
    expect(defaults.check('x7#kQ2p')).toBe('must be at least 8 characters');
  });

  describe('length', () => {
    it('rejects 7 characters and accepts 8', () => {
      expect(policy.check('x7#kQ2p')).toBe('must be at least 8 characters');
      expect(policy.check('x7#kQ2pZ')).toBeNull();
    });

    it('rejects the empty string', () => {
      expect(policy.check('')).toBe('must be at least 8 characters');
    });

    it('accepts 128 characters and rejects 129', () => {
      const base = 'Zq9!vR2#'.repeat(16); // 128
      expect([...base]).toHaveLength(128);
      expect(policy.check(base)).toBeNull();
      expect(policy.check(base + 'x')).toBe('must be at most 128 characters');
    });

    it('counts Unicode code points, not UTF-16 units', () => {
      const eightEmoji = '🔑🐙🌵🚲🎻🧲🪁🦔';
      expect(eightEmoji).toHaveLength(16); // UTF-16 code units
      expect(policy.check(eightEmoji)).toBeNull();
      expect(policy.check(eightEmoji.slice(0, -2))).toBe('must be at least 8 characters'); // 7 code points
      const emoji128 = '🔑'.repeat(128); // 256 UTF-16 units
      expect(policy.check(emoji128)).toBeNull();
      expect(policy.check(emoji128 + '🔑')).toBe('must be at most 128 characters');
    });

    it('does not normalise: a decomposed character counts as two code points', () => {
      const composed = 'pässwör'; // 7 code points
      expect(policy.check(composed)).toBe('must be at least 8 characters');
      expect(policy.check(composed.normalize('NFD'))).toBeNull(); // 9 code points
    });

    it('counts leading and trailing spaces and does not trim them', () => {
      expect(policy.check('  x7#kQ2')).toBeNull(); // 6 visible + 2 spaces
      expect(policy.check('x7#kQ2  ')).toBeNull();
      expect(policy.check(' x7#kQ2')).toBe('must be at least 8 characters');
      expect(policy.check('        ')).toBeNull(); // eight spaces: no composition rules
    });

    it('uses the configured limits in checks and messages', () => {
      const strict = new PasswordPolicy({ minLength: 12, maxLength: 16 });
      expect(strict.check('x7#kQ2pZx7#')).toBe('must be at least 12 characters');
      expect(strict.check('x7#kQ2pZx7#k')).toBeNull();
      expect(strict.check('x7#kQ2pZx7#kQ2pZ!')).toBe('must be at most 16 characters');
    });

    it.each([
      { minLength: 0, maxLength: 10 },
      { minLength: 10, maxLength: 9 },
      { minLength: 8.5, maxLength: 128 },
    ])('rejects invalid limits %o', (options) => {
      expect(() => new PasswordPolicy(options)).toThrow(RangeError);
    });
  });

  describe('common passwords', () => {
    it.each([
      'password',
      'Password',
      'PASSWORD',
      'Password1',
      'qwertyuiop',
      'QwertyUiop',
      'iloveyou',
      '12345678',
    ])('rejects %s', (password) => {
      expect(policy.check(password)).toBe(TOO_COMMON);
    });

    it('does not trim before the lookup: a padded common password is a different password', () => {
      expect(policy.check(' password ')).toBeNull();
    });

    it('reports length before commonness', () => {
      expect(policy.check('qwerty')).toBe('must be at least 8 characters');
    });

    it('accepts a long random passphrase', () => {
      expect(policy.check('tangerine-viaduct-mossy-quarterback-41')).toBeNull();
      expect(policy.check('Wz4$kQ9!tR2#mB7&')).toBeNull();
    });
  });
});
