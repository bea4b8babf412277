// The HTTP API (Fastify): routes under /v1, bearer-key auth with tenant and merchant
// scoping, Idempotency-Key on every POST, typed JSON errors, multipart uploads that pass
// image intake before anything is stored, and an OpenAPI 3.1 document at /openapi.json
// with an interactive page at /docs.

import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { rm } from 'node:fs/promises';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { IntakeError } from '../forensics/errors.ts';
import type { IntakeLimits } from '../forensics/intake.ts';
import { validateUpload, type UploadValidation } from '../forensics/structure.ts';
import type { IntakeSummary } from '../jobs/intake-pool.ts';
import { auditAnchor, canonicalJson, verifyAudit, type AuditAnchor } from '../claims/audit.ts';
import { ServiceError, forbidden, invalid } from '../claims/errors.ts';
import { checkInputValue } from '../claims/input-checks.ts';
import { CLAIM_STATES, CLAIM_TYPES, DECISIONS, type AcceptedFile, type Principal, type Role } from '../claims/model.ts';
import type { ClaimsService, MutationResult } from '../claims/service.ts';
import { SubmitBatcher } from '../claims/submit-batch.ts';
import { ENGINE_VERSION } from '../forensics/engine.ts';
import { registerRateLimit, type RateLimitOptions } from './rate-limit.ts';
import { INTAKE_STATUS, boundaryOf, checkFileFields, checkUploadText, duplicatePart, checkObject, claimFromFields, claimJsonSchema, declaredType, intakeRefusal, jsonField, malformed, parseMultipart, tooLarge, type MultipartLimits } from './upload-parts.ts';
import { MAX_DURATION_MS, MIN_GRACE_MS, sweepOrphanBlobs } from '../store/blob-sweep.ts';
import { declaresVideo, intakeVideo, mediaContentType, sniffVideo, type VideoSummary } from '../forensics/video-intake.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** What an intake call is told about the file besides its bytes. */
export interface IntakeCallOptions {
  name?: string;
  contentType?: string;
  limits?: Partial<IntakeLimits>;
  place?: boolean;
  movable?: boolean;
}

export interface AppOptions {
  /** Token for the loopback admin routes (keys, audit) used by the CLI while the server runs. */
  adminToken?: string;
  logger?: boolean;
  /** Largest accepted upload per file, bytes. */
  maxFileBytes?: number;
  maxFiles?: number;
  /** Largest total of the files of one request, bytes. */
  maxRequestBytes?: number;
  /** Called when a multipart POST (an upload) arrives: the job runner defers analysis meanwhile. */
  onUpload?: () => void;
  /** Upload check used when `intake` is not given (default 'structural'). */
  uploadValidation?: UploadValidation;
  /** Runs intake off the main thread (default: intake on this thread). */
  /**
   * Runs intake off the main thread. `place` says that this is the request's only file, so
   * an intake that also writes blobs (IntakeSummary.stored / tmpPath) may name it at once;
   * with several files it leaves a temp file that is named after every file passed.
   * `movable`: the bytes' whole memory may be moved to another thread (it holds nothing else).
   */
  intake?: (bytes: Uint8Array, opts: IntakeCallOptions) => Promise<IntakeSummary>;
  /** Names a temp blob written by intake (FsBlobStore.adopt); needed when `intake` writes blobs. */
  adoptBlob?: (tmpPath: string, sha256: string) => Promise<void>;
  /**
   * Group commit of claim submissions (default true): submissions without an
   * Idempotency-Key that arrive while a commit runs are written together in the next one.
   */
  groupCommit?: boolean;
  /** Request limits per API key (see rate-limit.ts); none when absent or max 0. */
  rateLimit?: RateLimitOptions;
  /**
   * A `Server-Timing` header on claim submissions (default off): where the request's time
   * went on the server — `read` (from its arrival to its last part read: authentication,
   * the multipart body), `intake` (upload check and blob write on the intake threads, with
   * the wait for them), `commit` (the database write, with the wait for its group). For
   * finding out where a slow submission spent its time; the benchmark reads it.
   */
  serverTiming?: boolean;
}

const errorSchema = {
  type: 'object',
  properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } }, required: ['code', 'message'] } },
} as const;

const orderJsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'buyerId', 'merchantId', 'sku', 'amount', 'currency'],
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 200 },
    buyerId: { type: 'string', minLength: 1, maxLength: 200 },
    merchantId: { type: 'string', minLength: 1, maxLength: 200 },
    sku: { type: 'string', minLength: 1, maxLength: 200 },
    amount: { type: 'number', minimum: 0 },
    currency: { type: 'string', minLength: 3, maxLength: 3, pattern: '^[A-Z]{3}$', description: 'ISO 4217 code, such as CNY' },
    deliveredAt: { type: ['string', 'null'], format: 'date-time' },
    shipping: { type: ['object', 'null'] },
  },
} as const;

const decisionSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['decision', 'reason'],
  properties: { decision: { type: 'string', enum: [...DECISIONS] }, reason: { type: 'string', minLength: 1, maxLength: 5000 } },
} as const;

const webhookSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['url'],
  properties: { url: { type: 'string', minLength: 8, maxLength: 2000 }, secret: { type: 'string', minLength: 16, maxLength: 200 } },
} as const;

const responseJsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['text'],
  properties: { text: { type: 'string', minLength: 1, maxLength: 10000 } },
} as const;

const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    state: { type: 'string', enum: [...CLAIM_STATES] },
    merchantId: { type: 'string' },
    buyerId: { type: 'string' },
    orderId: { type: 'string' },
    cursor: { type: 'string' },
    limit: { type: 'integer', minimum: 1, maximum: 200 },
  },
} as const;

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 200 } } } as const;
const security = [{ bearer: [] }];

/** Documents a multipart body in OpenAPI; the parts are checked by hand (and by intake). */
function multipartBody(fields: Record<string, unknown>, required: string[]) {
  return { content: { 'multipart/form-data': { schema: { type: 'object', properties: fields, required } } } };
}

const binary = { type: 'string', format: 'binary' };
const binaryList = { type: 'array', items: binary };

/** A file part of a multipart request, read but not yet through intake. */
interface RawFile {
  field: string;
  filename: string;
  mimetype: string;
  bytes: Buffer;
}

interface ParsedUpload {
  fields: Record<string, string>;
  files: AcceptedFile[];
  /** sha256 of each file, for the idempotency fingerprint. */
  fileHashes: string[];
}

export async function buildApp(service: ClaimsService, opts: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: 1024 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  });
  const maxFileBytes = opts.maxFileBytes ?? 64 * 1024 * 1024;
  const runIntake = opts.intake ?? (async (bytes: Uint8Array, o: IntakeCallOptions): Promise<IntakeSummary> => {
    const im = await validateUpload(bytes, o, opts.uploadValidation ?? 'structural');
    return { sha256: im.sha256, width: im.width, height: im.height, format: im.format };
  });
  const maxRequestBytes = opts.maxRequestBytes ?? 128 * 1024 * 1024;
  /** The files of one request together passed the cap (both upload paths check it). */
  const filesOverCap = () => tooLarge(`the files of one request may total at most ${maxRequestBytes} bytes`);
  const batcher = opts.groupCommit === false ? undefined : new SubmitBatcher(service.db, { onCommitted: () => service.opts.onJobsQueued?.() });
  app.decorate('submitBatcher', batcher);
  if (opts.rateLimit) await registerRateLimit(app, opts.rateLimit);
  if (opts.onUpload) {
    const onUpload = opts.onUpload;
    app.addHook('onRequest', async (req) => {
      if (req.method === 'POST' && req.headers['content-type']?.startsWith('multipart/')) onUpload();
    });
  }
  const multipartLimits: MultipartLimits = { fileSize: maxFileBytes, files: opts.maxFiles ?? 20, fields: 20, fieldSize: 256 * 1024, parts: 40 };
  await app.register(multipart, { limits: multipartLimits });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'claimlens API',
        version: ENGINE_VERSION,
        description:
          'Verification and review of after-sales claims. Every route under /v1 needs `Authorization: Bearer KEY`. Every POST accepts an `Idempotency-Key` header: the same key with the same body returns the first response; the same key with a different body is refused with 409. Errors are `{ "error": { "code", "message" } }`. Requests are limited per key (default 60 000 a minute; `429 rate_limited` with `Retry-After` and `x-ratelimit-*` headers).',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.setErrorHandler((err: any, req, reply) => {
    if (err instanceof ServiceError) return sendError(reply, err.status, err.code, err.message, err.details);
    if (err instanceof IntakeError) return sendError(reply, INTAKE_STATUS[err.code] ?? 422, err.code, err.message);
    if (err.validation) return sendError(reply, 400, 'invalid_request', err.message);
    if (err.statusCode === 429) return sendError(reply, 429, 'rate_limited', err.message);
    if (err.code === 'FST_REQ_FILE_TOO_LARGE' || err.code === 'FST_FILES_LIMIT' || err.code === 'FST_PARTS_LIMIT' || err.code === 'FST_FIELDS_LIMIT') {
      return sendError(reply, 413, 'too_large', err.message);
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendError(reply, 413, 'too_large', err.message);
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || err.code === 'FST_INVALID_MULTIPART_CONTENT_TYPE') return sendError(reply, 415, 'unsupported_media_type', err.message);
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      return sendError(reply, err.statusCode, 'invalid_request', err.message);
    }
    // A value the database refused as data (SQLSTATE class 22: NUL in text, a date out of
    // range, …; both database clients' errors carry the code) that no check above caught: the
    // client's input, not our failure.
    if (typeof err.code === 'string' && /^22[0-9A-Z]{3}$/.test(err.code)) {
      return sendError(reply, 400, 'invalid_request', `a value cannot be stored: ${err.message}`);
    }
    // The client learns nothing of the cause; the operator must (the server runs without
    // Fastify's request logger, so req.log alone would write nothing).
    req.log.error(err);
    if (!opts.logger) console.error(`${new Date().toISOString()} 500 ${req.method} ${req.routeOptions?.url ?? req.url.split('?')[0]} (request ${req.id}):`, err);
    return sendError(reply, 500, 'internal', 'internal error');
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, 404, 'not_found', `no route ${req.method} ${req.url.split('?')[0]}`));

  app.get('/openapi.json', { schema: { hide: true } as any }, async () => app.swagger());
  app.get('/healthz', { schema: { summary: 'Liveness and database check', tags: ['ops'] } }, async () => {
    await service.db.query('SELECT 1');
    return { ok: true, engine: ENGINE_VERSION, database: service.db.kind };
  });

  // Path, query and JSON body values must be storable and of sane depth (claims/input-checks.ts);
  // multipart bodies are checked where they are taken apart (upload-parts.ts).
  app.addHook('preHandler', async (req) => {
    checkInputValue(req.params, 'the path');
    checkInputValue(req.query, 'the query');
    if (typeof req.body === 'object' && req.body !== null && !Buffer.isBuffer(req.body)) checkInputValue(req.body, 'the body');
  });

  // Authentication for /v1.
  app.addHook('onRequest', async (req) => {
    if (!req.url.startsWith('/v1/') && req.url !== '/v1') return;
    const h = req.headers.authorization;
    const m = h ? /^Bearer\s+(\S+)$/i.exec(h) : null;
    if (!m) throw new ServiceError(401, 'unauthorized', 'missing Authorization: Bearer KEY');
    const p = await service.authenticate(m[1]!);
    if (!p) throw new ServiceError(401, 'unauthorized', 'unknown or revoked API key');
    req.principal = p;
  });

  const who = (req: FastifyRequest): Principal => req.principal!;
  const need = (req: FastifyRequest, ...roles: Role[]) => {
    if (!roles.includes(who(req).role)) throw forbidden(`this needs a ${roles.join(' or ')} key`);
  };

  /** Runs a change in one transaction, honouring Idempotency-Key. */
  async function mutate(req: FastifyRequest, reply: FastifyReply, fingerprint: unknown, op: (tx: any) => Promise<MutationResult>) {
    const p = who(req);
    const key = req.headers['idempotency-key'];
    let result: MutationResult & { replayed?: boolean };
    if (typeof key !== 'string' || key === '') {
      result = await service.db.transaction(op);
    } else {
      if (key.length > 200) throw invalid('Idempotency-Key is longer than 200 characters');
      const hash = createHash('sha256').update(canonicalJson({ m: req.method, r: req.routeOptions.url, p: req.params, b: fingerprint })).digest('hex');
      result = await service.db.transaction(async (tx) => {
        const ins = await tx.query(
          'INSERT INTO idempotency (tenant_id, key_id, idem_key, request_hash) VALUES ($1,$2,$3,$4) ON CONFLICT (key_id, idem_key) DO NOTHING RETURNING key_id',
          [p.tenantId, p.keyId, key, hash],
        );
        if (ins.rows.length === 0) {
          const prev = (await tx.query('SELECT request_hash, status, response FROM idempotency WHERE key_id = $1 AND idem_key = $2', [p.keyId, key])).rows[0];
          if (prev.request_hash !== hash) {
            throw new ServiceError(409, 'idempotency_key_reused', 'this Idempotency-Key was used with a different request');
          }
          const body = typeof prev.response === 'string' ? JSON.parse(prev.response) : prev.response;
          return { status: prev.status, body, replayed: true };
        }
        const r = await op(tx);
        await tx.query('UPDATE idempotency SET status = $3, response = $4 WHERE key_id = $1 AND idem_key = $2', [p.keyId, key, r.status, JSON.stringify(r.body)]);
        return r;
      });
    }
    if (result.replayed) reply.header('idempotent-replayed', 'true');
    service.opts.onJobsQueued?.();
    return reply.code(result.status).send(result.body);
  }

  /** Reads a multipart request: text fields and image or video files (each through intake). */
  async function readUpload(req: FastifyRequest, fileFields: string[], checkFields?: (fields: Record<string, string>) => void): Promise<ParsedUpload> {
    if (!req.isMultipart()) throw new ServiceError(415, 'unsupported_media_type', 'this route takes multipart/form-data');
    // As parseMultipart answers it: a multipart type without its boundary is not usable.
    if (!boundaryOf(req.headers['content-type'] ?? '')) throw new ServiceError(415, 'unsupported_media_type', 'not a usable multipart content type: no boundary');
    const fields: Record<string, string> = {};
    const raw: RawFile[] = [];
    let total = 0;
    try {
      for await (const part of req.parts()) {
        if (part.type === 'file') {
          if (!fileFields.includes(part.fieldname)) {
            await part.toBuffer().catch(() => undefined);
            checkFileFields([{ field: part.fieldname }], fileFields);
          }
          const bytes = await part.toBuffer();
          total += bytes.length;
          // A cap on the whole request, not only per file, bounds the memory one request can take.
          if (total > maxRequestBytes) throw filesOverCap();
          raw.push({ field: part.fieldname, filename: part.filename, mimetype: part.mimetype, bytes });
        } else {
          // The same answers as parseMultipart gives the claims route: a cut value is too large,
          // and a part sent as application/json (which the plugin parses) is its text.
          if (part.valueTruncated) throw tooLarge(`the '${part.fieldname}' part is over ${multipartLimits.fieldSize} bytes`);
          if (Object.hasOwn(fields, part.fieldname)) throw duplicatePart(part.fieldname);
          fields[part.fieldname] = typeof part.value === 'string' ? part.value : JSON.stringify(part.value);
        }
      }
    } catch (e) {
      // busboy's own errors (a malformed body) carry no status: they are the client's, not ours
      if (e instanceof Error && !(e instanceof ServiceError) && !('code' in e) && !('statusCode' in e)) throw malformed(e.message);
      throw e;
    }
    // The text parts are checked before any file is looked at or written.
    checkUploadText(fields, raw);
    checkFields?.(fields);
    const files = await acceptFiles(raw);
    return { fields, files, fileHashes: files.map((f) => f.sha256) };
  }

  /** Intake wrote the upload into the blob store, named or as a temp file to be named. */
  function writtenByIntake(image: IntakeSummary | VideoSummary): boolean {
    return ('stored' in image && image.stored === true) || ('tmpPath' in image && !!image.tmpPath);
  }

  /**
   * Every file must pass intake before anything is named in the blob store: one bad file
   * rejects the whole request. An intake that writes blobs names a lone file's blob at once;
   * with several files it leaves temp files, named here once all have passed. `movable`: a lone
   * file's bytes are a view of memory nothing else needs (a request body read whole).
   */
  async function acceptFiles(raw: RawFile[], movable = false): Promise<AcceptedFile[]> {
    const files: AcceptedFile[] = [];
    const temps: { tmpPath: string; sha256: string; file: AcceptedFile }[] = [];
    try {
      for (const f of raw) {
        const contentType = declaredType(f.mimetype);
        const size = f.bytes.length; // before intake, which may move the bytes to its thread
        let image: IntakeSummary | VideoSummary;
        try {
          // a video (packing video, video of the damage) goes through video intake (ffprobe + a decode check)
          image =
            sniffVideo(f.bytes) || declaresVideo({ name: f.filename, contentType })
              ? await intakeVideo(f.bytes, { name: f.filename, contentType, limits: { maxBytes: maxFileBytes } })
              : await runIntake(f.bytes, { name: f.filename, contentType, limits: { maxBytes: maxFileBytes }, place: raw.length === 1, movable: movable && raw.length === 1 });
        } catch (e) {
          throw e instanceof IntakeError ? intakeRefusal(e, f) : e;
        }
        const accepted: AcceptedFile = {
          // Intake may have moved the bytes to its thread (the caller's view is then empty), and
          // sends them back only when it did not store them.
          ...(writtenByIntake(image) ? {} : { bytes: ('bytes' in image && image.bytes) || f.bytes }),
          size,
          sha256: image.sha256,
          filename: f.filename || `${image.sha256.slice(0, 12)}.${image.format}`,
          // what the bytes are, not what the client declared (a declared text/html was stored
          // and served back as such)
          contentType: mediaContentType(image.format) ?? contentType,
          width: image.width,
          height: image.height,
          format: image.format,
        };
        if ('stored' in image && image.stored) accepted.stored = true;
        if ('tmpPath' in image && image.tmpPath) temps.push({ tmpPath: image.tmpPath, sha256: image.sha256, file: accepted });
        files.push(accepted);
      }
      if (temps.length > 0) {
        if (!opts.adoptBlob) throw new Error('intake wrote temp blobs but no adoptBlob was given');
        while (temps.length > 0) {
          const t = temps[0]!;
          await opts.adoptBlob(t.tmpPath, t.sha256);
          temps.shift();
          t.file.stored = true;
        }
      }
    } finally {
      // a request refused half-way leaves no temp file behind
      for (const t of temps) await rm(t.tmpPath, { force: true }).catch(() => {});
    }
    return files;
  }

  const noValidate = { validatorCompiler: () => () => true };

  // ---- SKUs ----
  app.post<{ Params: { sku: string }; Querystring: { merchantId?: string } }>(
    '/v1/skus/:sku/references',
    {
      ...noValidate,
      schema: {
        summary: 'Register reference photos of a SKU (multipart, one or more `file` parts)',
        tags: ['skus'],
        security,
        params: { type: 'object', properties: { sku: { type: 'string' } } },
        querystring: { type: 'object', properties: { merchantId: { type: 'string' } } },
        body: multipartBody({ file: binaryList, merchantId: { type: 'string' }, kind: { type: 'string', enum: ['listing', 'packing', 'other'] } }, ['file']),
        response: { 201: { type: 'object', additionalProperties: true }, '4xx': errorSchema },
      } as any,
    },
    async (req, reply) => {
      need(req, 'merchant', 'platform');
      const up = await readUpload(req, ['file']);
      const merchantId = up.fields.merchantId ?? req.query.merchantId;
      const kind = (up.fields.kind ?? 'listing') as 'listing';
      if (!['listing', 'packing', 'other'].includes(kind)) throw invalid('kind must be listing, packing or other');
      await service.putBlobs(up.files);
      return mutate(req, reply, { f: up.fields, h: up.fileHashes }, (tx) => service.addSkuReferences(tx, who(req), req.params.sku, merchantId, up.files, kind));
    },
  );
  app.get<{ Params: { sku: string }; Querystring: { merchantId?: string } }>(
    '/v1/skus/:sku/references',
    { schema: { summary: 'Reference photos of a SKU', tags: ['skus'], security, querystring: { type: 'object', properties: { merchantId: { type: 'string' } } } } },
    async (req) => service.listSkuReferences(who(req), req.params.sku, req.query.merchantId),
  );

  // ---- orders ----
  app.post(
    '/v1/orders',
    {
      ...noValidate,
      schema: {
        summary: 'Create an order (JSON, or multipart with an `order` JSON part and optional `file` reference parts)',
        tags: ['orders'],
        security,
        body: { content: { 'application/json': { schema: orderJsonSchema }, ...multipartBody({ order: { type: 'string', description: 'order JSON' }, file: binaryList }, ['order']).content } },
      } as any,
    },
    async (req, reply) => {
      need(req, 'platform', 'merchant');
      let order: unknown;
      let files: AcceptedFile[] = [];
      let fp: unknown;
      if (req.isMultipart()) {
        const up = await readUpload(req, ['file']);
        order = jsonField(up.fields, 'order');
        files = up.files;
        fp = { o: order, h: up.fileHashes };
      } else {
        order = req.body;
        fp = order;
      }
      checkObject(order, orderJsonSchema, 'order');
      await service.putBlobs(files);
      return mutate(req, reply, fp, (tx) => service.createOrder(tx, who(req), order as any, files));
    },
  );
  app.get<{ Params: { id: string } }>('/v1/orders/:id', { schema: { summary: 'An order', tags: ['orders'], security, params: idParams } }, async (req) =>
    service.getOrder(who(req), req.params.id),
  );

  // ---- claims ----
  /** Server-Timing of a submission (AppOptions.serverTiming): its first two phases' times. */
  const submitTimes = new WeakMap<FastifyRequest, { readMs: number; intakeMs: number }>();
  // The route reads a multipart body whole, as bytes, in a scope of its own instead of through
  // @fastify/multipart (see upload-parts.ts for why). Its body may hold the files of one request,
  // their text parts and the multipart framing.
  const bodyLimit = maxRequestBytes + multipartLimits.fields * multipartLimits.fieldSize + 1024 * 1024;
  await app.register(async (scope) => {
    scope.removeContentTypeParser('multipart/form-data');
    scope.addContentTypeParser('multipart/form-data', { parseAs: 'buffer', bodyLimit }, (_req, b, done) => done(null, b));
    scope.post(
      '/v1/claims',
      {
        ...noValidate,
        // Before the body is read: it is read whole before the handler runs.
        onRequest: async (req: FastifyRequest) => need(req, 'platform'),
        ...(opts.serverTiming
          ? {
              onSend: async (req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
                const t = submitTimes.get(req);
                if (t) {
                  const commitMs = reply.elapsedTime - t.readMs - t.intakeMs;
                  reply.header('server-timing', `read;dur=${t.readMs.toFixed(2)}, intake;dur=${t.intakeMs.toFixed(2)}, commit;dur=${commitMs.toFixed(2)}`);
                }
                return payload;
              },
            }
          : {}),
        schema: {
          summary: 'Submit a claim (multipart: a `claim` JSON part and one or more `evidence` files) → 202 { id, state }',
          tags: ['claims'],
          security,
          body: multipartBody({ claim: { type: 'string', description: JSON.stringify(claimJsonSchema) }, evidence: binaryList }, ['claim', 'evidence']),
          response: { 202: { type: 'object', properties: { id: { type: 'string' }, state: { type: 'string' } } }, '4xx': errorSchema },
        } as any,
      },
      async (req, reply) => {
        // The body was read whole (the raw parser below) and is taken apart here (upload-parts.ts).
        if (!Buffer.isBuffer(req.body)) throw new ServiceError(415, 'unsupported_media_type', 'this route takes multipart/form-data');
        const body = req.body;
        const parts = await parseMultipart(body, req.headers['content-type'], multipartLimits);
        if (parts.repeated.length > 0) throw duplicatePart(parts.repeated[0]!);
        checkUploadText(parts.fields, parts.files);
        checkFileFields(parts.files, ['evidence']);
        const total = parts.files.reduce((n, f) => n + f.bytes.length, 0);
        if (total > maxRequestBytes) throw filesOverCap();
        // The text parts are checked before any file is looked at or written.
        const claim = claimFromFields(parts.fields);
        const readMs = reply.elapsedTime;
        // A lone file is a view of the body, which owns its memory (a body of 4 KB or more is
        // not a slice of Node's shared buffer pool) and is not needed after this: intake may
        // move that memory to its thread instead of copying 300 KB.
        const ownsMemory = body.byteOffset === 0 && body.buffer.byteLength === body.length;
        const files = await acceptFiles(parts.files, ownsMemory);
        if (files.length === 0) throw invalid('at least one evidence file is required');
        await service.putBlobs(files);
        if (opts.serverTiming) submitTimes.set(req, { readMs, intakeMs: reply.elapsedTime - readMs });
        const idem = req.headers['idempotency-key'];
        if (batcher && (typeof idem !== 'string' || idem === '')) {
          // The common case goes through group commit; with an Idempotency-Key the key row
          // must be written in the claim's own transaction, so that path stays per request.
          const r = await batcher.submit(who(req), claim, files);
          return reply.code(r.status).send(r.body);
        }
        return mutate(req, reply, { c: claim, h: files.map((f) => f.sha256) }, (tx) => service.submitClaim(tx, who(req), claim, files));
      },
    );
  });
  app.get<{ Querystring: Record<string, any> }>(
    '/v1/claims',
    { schema: { summary: 'List claims (newest first; filter by state, merchantId, buyerId, orderId; cursor pagination)', tags: ['claims'], security, querystring: listQuery } },
    async (req) => service.listClaims(who(req), req.query),
  );
  app.get<{ Params: { id: string } }>(
    '/v1/claims/:id',
    { schema: { summary: 'A claim with its state, deadlines, analysis (images as `claimlens analyze --json`), responses and decisions', tags: ['claims'], security, params: idParams } },
    async (req) => service.getClaim(who(req), req.params.id),
  );
  app.post<{ Params: { id: string } }>(
    '/v1/claims/:id/responses',
    {
      ...noValidate,
      schema: {
        summary: "The merchant's response (JSON { text }, or multipart with a `text` field and `evidence` files)",
        tags: ['claims'],
        security,
        params: idParams,
        body: { content: { 'application/json': { schema: responseJsonSchema }, ...multipartBody({ text: { type: 'string' }, evidence: binaryList }, ['text']).content } },
      } as any,
    },
    async (req, reply) => {
      need(req, 'merchant', 'platform');
      let text: unknown;
      let files: AcceptedFile[] = [];
      let fp: unknown;
      if (req.isMultipart()) {
        const up = await readUpload(req, ['evidence']);
        text = up.fields.text;
        files = up.files;
        fp = { t: text, h: up.fileHashes };
      } else {
        checkObject(req.body, responseJsonSchema, 'body');
        text = (req.body as { text: string }).text;
        fp = req.body;
      }
      if (typeof text !== 'string' || !text.trim()) throw invalid('text is required');
      await service.putBlobs(files);
      return mutate(req, reply, fp, (tx) => service.respond(tx, who(req), req.params.id, text as string, files));
    },
  );
  app.post<{ Params: { id: string }; Body: { decision: any; reason: string } }>(
    '/v1/claims/:id/decisions',
    { schema: { summary: 'A reviewer decision: approve, reject, request_more_evidence or escalate, with a reason', tags: ['claims'], security, params: idParams, body: decisionSchema } },
    async (req, reply) => {
      need(req, 'reviewer', 'platform');
      return mutate(req, reply, req.body, (tx) => service.decide(tx, who(req), req.params.id, req.body.decision, req.body.reason));
    },
  );
  app.post<{ Params: { id: string } }>(
    '/v1/claims/:id/evidence',
    {
      ...noValidate,
      schema: {
        summary: "The buyer's new photo(s) after more evidence was requested (multipart `evidence` files; platform)",
        tags: ['claims'],
        security,
        params: idParams,
        body: multipartBody({ evidence: binaryList }, ['evidence']),
      } as any,
    },
    async (req, reply) => {
      need(req, 'platform');
      const up = await readUpload(req, ['evidence']);
      await service.putBlobs(up.files);
      return mutate(req, reply, { h: up.fileHashes, f: up.fields }, (tx) => service.addEvidence(tx, who(req), req.params.id, up.files));
    },
  );
  app.get<{ Params: { id: string } }>(
    '/v1/claims/:id/audit',
    { schema: { summary: "The claim's audit entries (hash-chained)", tags: ['claims'], security, params: idParams } },
    async (req) => service.claimAudit(who(req), req.params.id),
  );
  app.get<{ Querystring: Record<string, any> }>(
    '/v1/review-queue',
    { schema: { summary: 'Claims waiting for people (in_review, escalated, awaiting_merchant), newest first', tags: ['review'], security, querystring: listQuery } },
    async (req) => service.reviewQueue(who(req), req.query),
  );
  app.get<{ Params: { id: string } }>(
    '/v1/media/:id',
    { schema: { summary: 'The bytes of a stored photo', tags: ['claims'], security, params: idParams } },
    async (req, reply) => {
      const m = await service.getMedia(who(req), req.params.id);
      // Served as what the bytes are, never sniffed into something else, and inert if opened
      // on its own: uploads are attacker-chosen bytes on the console's origin.
      return reply
        .header('content-type', m.contentType)
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "default-src 'none'; sandbox")
        .header('cache-control', 'private, max-age=86400, immutable')
        .send(m.bytes);
    },
  );

  // ---- webhooks ----
  app.post<{ Body: { url: string; secret?: string } }>(
    '/v1/webhooks',
    { schema: { summary: 'Register a webhook endpoint (platform); returns its signing secret', tags: ['webhooks'], security, body: webhookSchema } },
    async (req, reply) => mutate(req, reply, req.body, (tx) => service.createWebhook(tx, who(req), req.body.url, req.body.secret)),
  );
  app.get('/v1/webhooks', { schema: { summary: 'Webhook endpoints', tags: ['webhooks'], security } }, async (req) => service.listWebhooks(who(req)));
  app.delete<{ Params: { id: string } }>(
    '/v1/webhooks/:id',
    { schema: { summary: 'Stop an endpoint (platform): nothing more is sent to it; its delivery log stays', tags: ['webhooks'], security, params: idParams } },
    async (req) => service.deleteWebhook(who(req), req.params.id),
  );
  app.get<{ Params: { id: string } }>(
    '/v1/webhooks/:id/deliveries',
    { schema: { summary: 'Delivery log of an endpoint', tags: ['webhooks'], security, params: idParams } },
    async (req) => service.listDeliveries(who(req), req.params.id),
  );
  // ---- API keys (platform) ----
  app.get('/v1/keys', { schema: { summary: "The tenant's API keys (no secrets)", tags: ['keys'], security } }, async (req) => service.listApiKeys(who(req)));
  app.delete<{ Params: { id: string } }>(
    '/v1/keys/:id',
    { schema: { summary: 'Revoke an API key of the tenant (stops working at once; other processes within 30 s)', tags: ['keys'], security, params: idParams } },
    async (req) => service.revokeApiKey(who(req), req.params.id),
  );
  app.get('/v1/me', { schema: { summary: 'The calling key', tags: ['ops'], security } }, async (req) => {
    const p = who(req);
    return { keyId: p.keyId, tenantId: p.tenantId, role: p.role, merchantId: p.merchantId };
  });

  // ---- loopback admin (CLI while the server holds the data folder) ----
  if (opts.adminToken) {
    const token = Buffer.from(opts.adminToken);
    const checkAdmin = (req: FastifyRequest) => {
      const ip = req.socket.remoteAddress ?? '';
      if (!(ip === '127.0.0.1' || ip === '::1' || ip === '::ffff:127.0.0.1')) throw new ServiceError(404, 'not_found', 'not found');
      const got = Buffer.from(String(req.headers['x-admin-token'] ?? ''));
      if (got.length !== token.length || !timingSafeEqual(got, token)) throw new ServiceError(401, 'unauthorized', 'bad admin token');
    };
    app.post<{ Body: { tenant: string; role: Role; merchant?: string } }>(
      '/admin/keys',
      {
        schema: {
          hide: true,
          body: { type: 'object', required: ['tenant', 'role'], properties: { tenant: { type: 'string', minLength: 1 }, role: { type: 'string', enum: ['platform', 'merchant', 'reviewer'] }, merchant: { type: 'string' } } },
        } as any,
      },
      async (req, reply) => {
        checkAdmin(req);
        const k = await service.createApiKey(req.body.tenant, req.body.role, req.body.merchant);
        return reply.code(201).send(k);
      },
    );
    app.get<{ Querystring: { tenant?: string } }>('/admin/keys', { schema: { hide: true } as any }, async (req) => {
      checkAdmin(req);
      return service.listApiKeys({ admin: true, tenantId: req.query.tenant });
    });
    app.post<{ Params: { id: string } }>('/admin/keys/:id/revoke', { schema: { hide: true } as any }, async (req) => {
      checkAdmin(req);
      return service.revokeApiKey({ admin: true }, req.params.id);
    });
    app.get('/admin/audit/verify', { schema: { hide: true } as any }, async (req) => {
      checkAdmin(req);
      return verifyAudit(service.db);
    });
    app.post<{ Body: { anchors: AuditAnchor[] } }>(
      '/admin/audit/verify',
      {
        schema: {
          hide: true,
          body: {
            type: 'object',
            required: ['anchors'],
            properties: {
              anchors: {
                type: 'array',
                items: { type: 'object', required: ['seq', 'hash'], properties: { seq: { type: 'integer', minimum: 0 }, hash: { type: 'string', pattern: '^[0-9a-f]{64}$' }, at: { type: 'string' } } },
              },
            },
          },
        } as any,
      },
      async (req) => {
        checkAdmin(req);
        return verifyAudit(service.db, undefined, req.body.anchors.map((a) => ({ seq: a.seq, hash: a.hash, at: a.at ?? '' })));
      },
    );
    app.get('/admin/audit/head', { schema: { hide: true } as any }, async (req) => {
      checkAdmin(req);
      return auditAnchor(service.db);
    });
    app.post<{ Body: { graceMs?: number; dryRun?: boolean } }>(
      '/admin/blobs/sweep',
      {
        schema: {
          hide: true,
          body: { type: 'object', additionalProperties: false, properties: { graceMs: { type: 'integer', minimum: MIN_GRACE_MS, maximum: MAX_DURATION_MS }, dryRun: { type: 'boolean' } } },
        } as any,
      },
      async (req) => {
        checkAdmin(req);
        return sweepOrphanBlobs(service.db, service.store.blobs, req.body);
      },
    );
  }

  await app.register((await import('./console.ts')).consolePlugin); // reviewer console at /console/
  return app;
}

function sendError(reply: FastifyReply, status: number, code: string, message: string, details?: unknown) {
  return reply.code(status).send({ error: { code, message, ...(details !== undefined ? { details } : {}) } });
}
