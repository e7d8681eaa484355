import { WsBizCode, type WsBizCodeName } from "./codes.js";

/**
 * LocalCode marks failures that happened in the client, not on the server: they never
 * collide with the server's codes (which are 200…5xx and 1005).
 */
export const LocalCode = {
  /** No response within the request timeout. */
  Timeout: -1,
  /** The connection was lost while the request was in flight; it may or may not have been applied. */
  ConnectionLost: -2,
  /** The client was closed (by close(), or by the server with 4004). */
  Closed: -3,
  /** The server sent something the client cannot read. */
  BadResponse: -4,
} as const;

/**
 * RTMateError is what a rejected request carries: the server envelope's `code`, `message`,
 * `event` and `traceId` (quote the traceId when asking the server's operators about it).
 * Client-side failures use a negative LocalCode.
 */
export class RTMateError extends Error {
  override readonly name = "RTMateError";
  readonly code: number;
  readonly event: string | undefined;
  readonly traceId: string | undefined;
  /** reason is a server script's reason for a rejection or an rpc error (the response's data.reason). */
  readonly reason: string | undefined;

  constructor(code: number, message: string, event?: string | null, traceId?: string, reason?: string) {
    super(message);
    this.code = code;
    this.event = event ?? undefined;
    this.traceId = traceId;
    this.reason = reason;
  }

  /**
   * is reports whether this error is the table row `name`. Several rows share a numeric code
   * (400 is InvalidParams, AppNotFound and UnsupportedEvent), so the message is compared too.
   */
  is(name: WsBizCodeName): boolean {
    const row = WsBizCode[name];
    return row.code === this.code && row.message === this.message;
  }

  /** local is true for errors raised by the client itself (timeouts, lost connections). */
  get local(): boolean {
    return this.code < 0;
  }
}
