/**
 * The one layout of every mail, in plain text and HTML. Only fixed sentences
 * and values the service controls go in: the product name and site (from
 * configuration), the recipient's address (validated at signup or change,
 * escaped in HTML), a link built from PUBLIC_URL, its expiry. Nothing a
 * caller typed freely can carry a link or markup into a mail.
 */

export interface MailContent {
  /** Who the mail speaks for: MAIL_FROM's display name. */
  product: string;
  /** Where the account lives: PUBLIC_URL's host. */
  site: string;
  recipient: string;
  subject: string;
  /** Fixed sentences; `{address}` stands for the recipient, `{site}` for the site. */
  paragraphs: string[];
  action?: { label: string; url: string; expiresAt: Date; ttlSeconds: number };
  /** The "if this wasn't you" guidance. */
  notYou: string;
}

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

export function renderMail(content: MailContent): RenderedMail {
  const fill = (sentence: string, escape: (value: string) => string) =>
    sentence.replaceAll('{address}', escape(content.recipient)).replaceAll('{site}', escape(content.site));
  const plain = (value: string) => value;
  const subject = fill(content.subject, plain);
  const expiry = content.action ? expiryText(content.action.expiresAt, content.action.ttlSeconds) : undefined;

  const text = [
    ...content.paragraphs.map((sentence) => fill(sentence, plain)),
    ...(content.action ? [`${content.action.label}:\n${content.action.url}`, expiry!] : []),
    fill(content.notYou, plain),
    `— ${content.product}, ${content.site}`,
  ].join('\n\n');

  const p = (inner: string) => `<p style="margin:0 0 16px">${inner}</p>`;
  const html = [
    '<!DOCTYPE html>',
    '<html><head><meta charset="utf-8">',
    `<title>${escapeHtml(subject)}</title></head>`,
    '<body style="font-family:sans-serif;line-height:1.5;color:#222;max-width:560px;margin:0 auto;padding:24px">',
    ...content.paragraphs.map((sentence) => p(fill(escapeHtml(sentence), escapeHtml))),
    ...(content.action
      ? [
          p(
            `<a href="${escapeHtml(content.action.url)}" style="display:inline-block;padding:10px 18px;` +
              `background:#1a56db;color:#fff;text-decoration:none;border-radius:4px">${escapeHtml(content.action.label)}</a>`,
          ),
          p(
            `Or copy this address into your browser:<br><span style="word-break:break-all">${escapeHtml(content.action.url)}</span>`,
          ),
          p(escapeHtml(expiry!)),
        ]
      : []),
    p(fill(escapeHtml(content.notYou), escapeHtml)),
    `<p style="margin:0;color:#666">— ${escapeHtml(content.product)}, ${escapeHtml(content.site)}</p>`,
    '</body></html>',
  ].join('\n');

  return { subject, text, html };
}

/** Text made safe for HTML content and double-quoted attributes. */
export function escapeHtml(value: string): string {
  return value.replace(
    /[&<>"']/g,
    (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!,
  );
}

function expiryText(expiresAt: Date, ttlSeconds: number): string {
  const at = expiresAt
    .toISOString()
    .replace('T', ' ')
    .replace(/:\d\d\.\d+Z$/, ' UTC');
  return `This link works once and expires in ${durationText(ttlSeconds)} (at ${at}).`;
}

/** 86400 → "24 hours", 1800 → "30 minutes", 90 → "90 seconds". */
export function durationText(seconds: number): string {
  const unit = (amount: number, name: string) => `${amount} ${name}${amount === 1 ? '' : 's'}`;
  if (seconds % 3600 === 0) return unit(seconds / 3600, 'hour');
  if (seconds % 60 === 0) return unit(seconds / 60, 'minute');
  return unit(seconds, 'second');
}

/** MAIL_FROM's display name ("Acme <no-reply@acme.test>" → "Acme"), or the fallback. */
export function displayName(from: string, fallback: string): string {
  const match = /^\s*"?([^"<]*?)"?\s*</.exec(from);
  const name = match?.[1]?.trim();
  return name ? name : fallback;
}
