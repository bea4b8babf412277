// Typed errors of the claims service; the HTTP layer turns them into
// `{ error: { code, message } }` with the status given here.

export class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}

export const notFound = (what: string) => new ServiceError(404, 'not_found', `${what} not found`);
export const forbidden = (message: string) => new ServiceError(403, 'forbidden', message);
export const invalid = (message: string, details?: unknown) => new ServiceError(400, 'invalid_request', message, details);
export const conflict = (code: string, message: string) => new ServiceError(409, code, message);
