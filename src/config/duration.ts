const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/**
 * Parses a duration as the contract writes them: a bare number of seconds
 * (`900`) or a number with one unit (`30s`, `15m`, `12h`, `7d`).
 * Returns whole seconds, or null when the text is not such a duration.
 */
export function parseDuration(text: string): number | null {
  const match = /^(\d{1,9})\s*([smhd])?$/.exec(text.trim());
  if (!match) return null;
  const amount = Number(match[1]);
  const unit = (match[2] ?? 's') as keyof typeof UNIT_SECONDS;
  return amount * UNIT_SECONDS[unit];
}
