// Typed errors for input the engine refuses. Each has a stable `code` that the CLI
// and the HTTP API report as is, and a message a person can act on.

export type IntakeErrorCode =
  | 'empty_file'
  | 'too_large'
  | 'unsupported_format'
  | 'format_mismatch'
  | 'pixel_limit'
  | 'truncated'
  | 'corrupt'
  | 'decode_timeout'
  | 'read_failed';

export class IntakeError extends Error {
  readonly code: IntakeErrorCode;
  constructor(code: IntakeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IntakeError';
    this.code = code;
  }
}

export function isIntakeError(e: unknown): e is IntakeError {
  return e instanceof IntakeError;
}
