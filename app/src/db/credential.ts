/**
 * A database password's fingerprint: which password an app logs in with, told without telling
 * it (12 hex digits of a salted SHA-256 of 192 random bits). The app shows it in /readyz; foobar
 * computes the same to know every app has the new password before the old one is refused.
 */
import { createHash } from 'node:crypto';

export function credentialFingerprint(password: string): string {
  return createHash('sha256')
    .update(`foobar db credential\n${password}`)
    .digest('hex')
    .slice(0, 12);
}
