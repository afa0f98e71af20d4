/**
 * openssl, for the lab's certificate authority. Keys are read from their 0600 files, never passed
 * on a command line; certificates come out on stdout for foobar to write.
 */
import type { Command } from '../drivers/driver.ts';

export interface CertificateRequest {
  readonly key: string;
  readonly subject: string;
  readonly days: number;
  readonly extensions: readonly string[];
}

function request(req: CertificateRequest): string[] {
  return [
    'openssl',
    'req',
    '-new',
    '-x509',
    '-key',
    req.key,
    '-subj',
    req.subject,
    '-days',
    String(req.days),
    ...req.extensions.flatMap((ext) => ['-addext', ext]),
  ];
}

export const openssl = {
  /** A self-signed certificate: the CA's own. */
  selfSigned: (req: CertificateRequest): Command => ({ argv: request(req) }),
  /** A certificate for `req.key` signed by the CA. */
  signed: (req: CertificateRequest, ca: { cert: string; key: string }): Command => ({
    argv: [...request(req), '-CA', ca.cert, '-CAkey', ca.key],
  }),
};
