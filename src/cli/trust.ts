/** `foobar ca`: where the lab's certificate authority is, and how to make a browser or curl trust it. */
import { X509Certificate } from 'node:crypto';
import { labPaths } from '../model/layout.ts';
import { siteAddresses, type Model } from '../model/model.ts';
import { siteUrl } from '../probes/site.ts';

export function trustInstructions(model: Model, pem: string): string {
  const ca = labPaths(model).caCertificate;
  const cert = new X509Certificate(pem);
  const address = siteAddresses(model)[0] ?? '<virtual address>';
  const names = `www.${model.domain} ${model.domain}`;
  const local = `/usr/local/share/ca-certificates/foobar-${model.lab.name}.crt`;
  return `${ca}
  ${cert.subject.replaceAll('\n', ', ')}, valid until ${cert.validTo}
  SHA-256 fingerprint ${cert.fingerprint256}
  It signs certificates for ${model.domain} and its subdomains only (a name constraint).

curl:     curl --cacert ${ca} ${siteUrl(model)}
Firefox:  Settings → Privacy & Security → Certificates → View Certificates → Authorities →
          Import… → ${ca} → tick "Trust this CA to identify websites".
Chromium: Settings → Privacy and security → Security → Manage certificates → Authorities →
          Import → ${ca} → tick "Trust this certificate for identifying websites".
System (curl, wget, ... on this machine; undo by deleting the file and running it again):
          cp ${ca} ${local} && update-ca-certificates

The browser must also find the site on this machine's edge link: add
  ${address} ${names}
to /etc/hosts (a virtual address: it stays up when a load balancer dies), then open ${siteUrl(model)}
HSTS: once a browser has seen the site over HTTPS it refuses plain HTTP for ${model.domain}
for ${model.tls.hstsMaxAgeSeconds} s, the real site included: use a separate browser profile.
`;
}
