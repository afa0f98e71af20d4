/**
 * A small client of etcd's v3 JSON gateway (etcd 3.4's HTTP API): keys, leases, compare-and-swap
 * transactions and the cluster's status. Every request is bounded in time; reads are
 * linearizable, so a member cut off from the majority answers nothing rather than stale data.
 * Where the requests travel is a transport: HTTP from the manager's own host, or curl through
 * the driver for the CLI on this machine.
 */
import http from 'node:http';
import { z } from 'zod';

export interface EtcdTransport {
  /** POSTs a JSON body to a gateway path ("/v3/kv/range") and resolves to the parsed answer. */
  post(path: string, body: unknown): Promise<unknown>;
  /** Where it sends, for messages. */
  readonly where: string;
}

/**
 * One JSON POST over node:http, bounded by `timeoutMs`: the status and the parsed answer. Not
 * fetch: fetch is undici, whose HTTP parser is WebAssembly that V8 compiles with TurboFan once
 * it runs hot, about 20 MB of compiler memory that malloc keeps in a manager for good.
 */
function postJson(
  url: string,
  body: string,
  timeoutMs: number,
): Promise<{ status: number; answer: unknown }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        signal: AbortSignal.timeout(timeoutMs),
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            const answer: unknown = JSON.parse(text);
            resolve({ status: response.statusCode ?? 0, answer });
          } catch {
            reject(new Error(`HTTP ${response.statusCode ?? 0}, not JSON: ${text.slice(0, 200)}`));
          }
        });
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/** Each endpoint in turn, each try bounded by `timeoutMs`; the first answer wins. */
export function httpTransport(endpoints: readonly string[], timeoutMs: number): EtcdTransport {
  return {
    where: endpoints.join(', '),
    async post(path, body) {
      const errors: string[] = [];
      for (const endpoint of endpoints) {
        try {
          const { status, answer } = await postJson(
            `${endpoint}${path}`,
            JSON.stringify(body),
            timeoutMs,
          );
          if (status >= 200 && status < 300) return answer;
          errors.push(`${endpoint}: HTTP ${status} ${JSON.stringify(answer)}`);
        } catch (error) {
          errors.push(`${endpoint}: ${(error as Error).message}`);
        }
      }
      throw new EtcdUnavailable(errors.join('; '));
    },
  };
}

export class EtcdUnavailable extends Error {
  override name = 'EtcdUnavailable';
}

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
const unb64 = (text: string): string => Buffer.from(text, 'base64').toString('utf8');

/** The first key after every key that starts with `prefix`. */
function prefixEnd(prefix: string): string {
  const bytes = Buffer.from(prefix, 'utf8');
  const last = bytes.at(-1) ?? 0;
  bytes[bytes.length - 1] = last + 1;
  return bytes.toString('base64');
}

const kvSchema = z.object({
  key: z.string(),
  value: z.string().optional(),
  mod_revision: z.string().optional(),
  create_revision: z.string().optional(),
  lease: z.string().optional(),
});
const rangeSchema = z.object({ kvs: z.array(kvSchema).optional() });
const grantSchema = z.object({ ID: z.string(), TTL: z.string().optional() });
const keepAliveSchema = z.object({
  result: z.object({ TTL: z.string().optional() }).optional(),
});
const txnSchema = z.object({ succeeded: z.boolean().optional() });
const readSchema = z.object({
  // Absent when empty (the gateway leaves out empty lists).
  responses: z.array(z.object({ response_range: rangeSchema })).optional(),
});
const statusSchema = z.object({
  header: z.object({ member_id: z.string() }),
  leader: z.string().optional(),
  raftTerm: z.string().optional(),
});
const membersSchema = z.object({
  members: z.array(
    z.object({
      ID: z.string(),
      name: z.string().optional(),
      clientURLs: z.array(z.string()).optional(),
    }),
  ),
});

export interface KeyValue {
  readonly key: string;
  readonly value: string;
  /** The revision of its last change: what a compare-and-swap compares. */
  readonly modRevision: string;
  readonly lease: string | undefined;
}

/** One condition of a transaction: the key's value, or its last change, is as given. */
export type Compare =
  | { readonly key: string; readonly value: string }
  | { readonly key: string; readonly modRevision: string }
  | { readonly key: string; readonly absent: true };

/** One key, or every key under a prefix, for `read`. */
export type Range = { readonly key: string } | { readonly prefix: string };

export interface Put {
  readonly key: string;
  readonly value: string;
  readonly lease?: string;
}

function toKeyValue(kv: z.infer<typeof kvSchema>): KeyValue {
  return {
    key: unb64(kv.key),
    value: unb64(kv.value ?? ''),
    modRevision: kv.mod_revision ?? '0',
    lease: kv.lease === undefined || kv.lease === '0' ? undefined : kv.lease,
  };
}

function compareBody(compare: Compare): Record<string, unknown> {
  if ('absent' in compare)
    return { key: b64(compare.key), target: 'CREATE', result: 'EQUAL', create_revision: '0' };
  if ('modRevision' in compare)
    return {
      key: b64(compare.key),
      target: 'MOD',
      result: 'EQUAL',
      mod_revision: compare.modRevision,
    };
  return { key: b64(compare.key), target: 'VALUE', result: 'EQUAL', value: b64(compare.value) };
}

function rangeBody(range: Range): Record<string, unknown> {
  return 'prefix' in range
    ? { key: b64(range.prefix), range_end: prefixEnd(range.prefix) }
    : { key: b64(range.key) };
}

function putBody(put: Put): Record<string, unknown> {
  return {
    request_put: {
      key: b64(put.key),
      value: b64(put.value),
      ...(put.lease === undefined ? {} : { lease: put.lease }),
    },
  };
}

export class Etcd {
  readonly transport: EtcdTransport;
  constructor(transport: EtcdTransport) {
    this.transport = transport;
  }

  private async call<T>(path: string, body: unknown, schema: z.ZodType<T>): Promise<T> {
    const answer = await this.transport.post(path, body);
    const parsed = schema.safeParse(answer);
    if (!parsed.success)
      throw new EtcdUnavailable(`${this.transport.where}${path}: unexpected answer`);
    return parsed.data;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const answer = await this.call('/v3/kv/range', rangeBody({ key }), rangeSchema);
    const kv = answer.kvs?.[0];
    return kv === undefined ? undefined : toKeyValue(kv);
  }

  async getPrefix(prefix: string): Promise<KeyValue[]> {
    const answer = await this.call('/v3/kv/range', rangeBody({ prefix }), rangeSchema);
    return (answer.kvs ?? []).map(toKeyValue);
  }

  /**
   * Several ranges in one request: a transaction of reads only, which etcd serves from one
   * linearizable read (one ReadIndex through the raft leader) instead of one per key. Each
   * range's keys, in the order asked.
   */
  async read(ranges: readonly Range[]): Promise<KeyValue[][]> {
    const answer = await this.call(
      '/v3/kv/txn',
      {
        compare: [],
        success: ranges.map((range) => ({
          request_range: rangeBody(range),
        })),
      },
      readSchema,
    );
    const responses = answer.responses ?? [];
    if (responses.length !== ranges.length)
      throw new EtcdUnavailable(
        `${this.transport.where}/v3/kv/txn: ${responses.length} answers to ${ranges.length} reads`,
      );
    return responses.map((r) => (r.response_range.kvs ?? []).map(toKeyValue));
  }

  async put(put: Put): Promise<void> {
    await this.call('/v3/kv/put', putBody(put).request_put, z.object({}));
  }

  async delete(key: string): Promise<void> {
    await this.call('/v3/kv/deleterange', { key: b64(key) }, z.object({}));
  }

  /** A lease of `ttlSeconds` (etcd raises it to its minimum, 1.5 election timeouts). */
  async grant(ttlSeconds: number): Promise<string> {
    return (await this.call('/v3/lease/grant', { TTL: ttlSeconds }, grantSchema)).ID;
  }

  /** False when the lease has expired already (its keys are gone). */
  async keepAlive(lease: string): Promise<boolean> {
    const answer = await this.call('/v3/lease/keepalive', { ID: lease }, keepAliveSchema);
    return Number(answer.result?.TTL ?? '0') > 0;
  }

  async revoke(lease: string): Promise<void> {
    await this.call('/v3/lease/revoke', { ID: lease }, z.object({}));
  }

  /** Applies every put when every comparison holds, atomically; true when it did. */
  async transaction(compares: readonly Compare[], puts: readonly Put[]): Promise<boolean> {
    const answer = await this.call(
      '/v3/kv/txn',
      { compare: compares.map(compareBody), success: puts.map(putBody) },
      txnSchema,
    );
    return answer.succeeded === true;
  }

  /** The member that answered, and the raft leader it follows (none: no quorum). */
  async status(): Promise<{ member: string; leader: string | undefined }> {
    const answer = await this.call('/v3/maintenance/status', {}, statusSchema);
    return {
      member: answer.header.member_id,
      leader: answer.leader === undefined || answer.leader === '0' ? undefined : answer.leader,
    };
  }

  async members(): Promise<{ id: string; name: string }[]> {
    const answer = await this.call('/v3/cluster/member/list', {}, membersSchema);
    return answer.members.map((m) => ({ id: m.ID, name: m.name ?? '' }));
  }
}
