/** The guestbook's rules: what a message may be, and the cookie that carries a writer's GTID. */

export const MAX_MESSAGE_CHARS = 500;
export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 100;

const ALLOWED_CONTROLS = new Set([0x09, 0x0a, 0x0d]);

/** Control characters other than tab, line feed and carriage return. */
function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if ((code < 0x20 && !ALLOWED_CONTROLS.has(code)) || code === 0x7f) return true;
  }
  return false;
}

/** Characters as MariaDB counts them in utf8mb4 (code points), for well-formed text. */
function codePoints(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0xdc00 || code > 0xdfff) count++;
  }
  return count;
}

/** The text to store, exactly as given, or why it is refused. */
export function validateMessageText(value: unknown): { text: string } | { error: string } {
  if (typeof value !== 'string') return { error: 'text must be a string' };
  if (!value.isWellFormed()) return { error: 'text is not valid Unicode' };
  if (value.trim() === '') return { error: 'text is empty' };
  if (codePoints(value) > MAX_MESSAGE_CHARS)
    return { error: `text is longer than ${MAX_MESSAGE_CHARS} characters` };
  if (hasControlCharacter(value)) return { error: 'text contains control characters' };
  return { text: value };
}

export function parseLimit(value: unknown): number | undefined {
  if (value === undefined) return DEFAULT_LIMIT;
  if (typeof value !== 'string' || !/^\d{1,3}$/.test(value)) return undefined;
  const limit = Number(value);
  return limit >= 1 && limit <= MAX_LIMIT ? limit : undefined;
}

/** The GTID of the visitor's last write rides in this cookie to their next read. */
export const GTID_COOKIE = 'fb_gtid';
const GTID_LIST = /^\d{1,10}-\d{1,10}-\d{1,20}(,\d{1,10}-\d{1,10}-\d{1,20}){0,7}$/;

export function gtidFromCookies(header: string | undefined): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [name, value] = part.trim().split('=', 2);
    if (name === GTID_COOKIE && value !== undefined && GTID_LIST.test(value)) return value;
  }
  return undefined;
}

export function gtidCookie(gtid: string): string {
  // Long enough for any replica to catch up; the wait is short anyway.
  return `${GTID_COOKIE}=${gtid}; Path=/; Max-Age=300; HttpOnly; SameSite=Lax`;
}
