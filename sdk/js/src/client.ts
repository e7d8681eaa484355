import { backoffDelay, type BackoffOptions } from "./backoff.js";
import { CloseCode } from "./codes.js";
import { Emitter } from "./emitter.js";
import { LocalCode, RTMateError } from "./errors.js";
import { jwtTimes, refreshDelayMs } from "./jwt.js";
import type {
  AuthData,
  ChannelData,
  Envelope,
  HistoryData,
  HistoryOptions,
  PresenceData,
  PresenceEvent,
  Publication,
  ResyncData,
  SubscribeData,
} from "./types.js";

/** ConnectionState is where the client is; every change is reported by the 'state' event. */
export type ConnectionState = "connecting" | "connected" | "disconnected" | "closed";

/** StateInfo says why the state changed, when there is a reason to tell. */
export interface StateInfo {
  /** The WebSocket close code, when a close caused the change. */
  code?: number;
  reason?: string;
  error?: Error;
  /** For 'disconnected': the delay before the next attempt, in ms (absent = no attempt scheduled). */
  retryInMs?: number;
}

/** ClientEvents are the events of RTMateClient.on. */
export interface ClientEvents {
  state: (state: ConnectionState, info: StateInfo) => void;
  /** Errors the client recovered from or could not attribute to a request (transport, token refresh, handlers). */
  error: (err: Error) => void;
}

/**
 * WebSocketLike is the part of the WHATWG WebSocket the client uses; browsers', Node ≥ 22's
 * global and the `ws` package's all fit.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  /** `ws` only: drop the TCP connection at once, without a closing handshake. */
  terminate?(): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
}

/** WebSocketConstructor builds a WebSocketLike, e.g. `globalThis.WebSocket` or `ws`'s default export. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** RTMateClientOptions configure a client. Zero values mean the documented defaults. */
export interface RTMateClientOptions {
  /** WebSocket URL, e.g. "ws://127.0.0.1:3000/ws". */
  url: string;
  /** The application id the token was issued for. */
  appId: string;
  /** Returns a fresh JWT; called before every connection attempt and before the token expires. */
  getToken: () => string | Promise<string>;
  /** WebSocket implementation; default `globalThis.WebSocket` (pass `ws` on Node < 22). */
  WebSocket?: WebSocketConstructor;
  /** Reconnect backoff bounds, or false to never reconnect by itself. Default {minDelayMs: 500, maxDelayMs: 20000}. */
  reconnect?: BackoffOptions | false;
  /** Interval of application-level pings, in ms; 0 disables. Default 25000. */
  pingIntervalMs?: number;
  /** How long a ping may stay unanswered before the connection is declared dead, in ms. Default 10000. */
  pingTimeoutMs?: number;
  /** How long a request may wait for its response (including time spent waiting for a connection), in ms. Default 10000. */
  requestTimeoutMs?: number;
  /** How long opening the WebSocket and authenticating may take before the attempt is abandoned, in ms. Default 10000. */
  connectTimeoutMs?: number;
}

/** RequestOptions adjust one request. */
export interface RequestOptions {
  /** Sent as metadata.traceId and echoed by the server; default: the server generates one. */
  traceId?: string;
  /** Overrides requestTimeoutMs for this request. */
  timeoutMs?: number;
}

/** SubscribedInfo describes one successful (re)subscription of a channel. */
export interface SubscribedInfo {
  channel: string;
  /** True when this follows a reconnect (the channel was subscribed before). */
  resubscribed: boolean;
  /** True when the server confirmed that nothing was missed since the last offset seen. */
  recovered: boolean;
  /** The channel's history stream, when it keeps history. */
  epoch?: string;
  offset?: number;
  /**
   * "resync": a `resync` push, not a resubscription. The channel's stream went on under a
   * new epoch while the client stayed connected (a Redis failover), so publications may
   * have been missed. It comes with resubscribed true and recovered false: reload state as
   * after any unrecovered resubscription.
   */
  reason?: "resync";
}

/** SubscriptionHandlers receive what a subscription delivers. All are optional. */
export interface SubscriptionHandlers<T = unknown> {
  /** A publication, in channel order, each offset at most once (also across reconnects). */
  onMessage?(data: T, pub: Publication<T>): void;
  /** Someone subscribed to this presence channel. */
  onJoin?(member: PresenceEvent): void;
  /** Someone left this presence channel. */
  onLeave?(member: PresenceEvent): void;
  /** The server refused the subscription (e.g. 400 参数错误, 403 无权限); the subscription is over. */
  onError?(err: RTMateError): void;
  /** The server confirmed the subscription (after every reconnect too). */
  onSubscribe?(info: SubscribedInfo): void;
}

/** Subscription is the handle subscribe returns. */
export interface Subscription {
  readonly channel: string;
  /** False after unsubscribe() or after the server refused the subscription. */
  readonly active: boolean;
  /** Resolves once the server has confirmed the subscription; rejects with the server's error. */
  ready(): Promise<void>;
  /** Stops delivery to these handlers; the channel is left when its last subscription goes. */
  unsubscribe(): void;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
  settled: boolean;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const d: Deferred<T> = {
    promise: new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    }),
    resolve: (v) => {
      if (!d.settled) {
        d.settled = true;
        resolve(v);
      }
    },
    reject: (e) => {
      if (!d.settled) {
        d.settled = true;
        reject(e);
      }
    },
    settled: false,
  };
  // Whoever cares awaits the promise; nobody caring is not an unhandled rejection.
  d.promise.catch(() => {});
  return d;
}

type Timer = ReturnType<typeof setTimeout>;

interface Pending {
  event: string;
  resolve(data: unknown): void;
  reject(err: RTMateError): void;
  timer: Timer;
}

/** Conn is one WebSocket and what belongs to it; a new one per connection attempt. */
interface Conn {
  ws: WebSocketLike;
  pending: Map<number, Pending>;
  authed: boolean;
  token: string;
  tokenExp: number | undefined;
  pingTimer: Timer | undefined;
  refreshTimer: Timer | undefined;
  /** Bounds the opening handshake plus auth: a black-holed network never fires close. */
  openTimer: Timer | undefined;
}

interface Waiter {
  event: string;
  payload: unknown;
  opts: RequestOptions | undefined;
  resolve(data: unknown): void;
  reject(err: RTMateError): void;
  timer: Timer;
}

type ChannelStatus = "pending" | "subscribing" | "subscribed";

/** ChannelState is the client's view of one server-side subscription, shared by its Subscriptions. */
class ChannelState {
  readonly subs = new Set<SubscriptionImpl>();
  status: ChannelStatus = "pending";
  /** The connection whose subscribe answer is awaited or was received. */
  conn: Conn | null = null;
  everSubscribed = false;
  epoch: string | undefined;
  /** The highest offset delivered (or known to precede the subscription). */
  offset: number | undefined;
  /** Live pushes held back while a recovery answer is outstanding, so that order is kept. */
  buffer: Publication[] | null = null;
  /** A resync push that came while buffering: it applies before the held pushes. */
  resync: ResyncData | null = null;

  constructor(readonly name: string) {}
}

class SubscriptionImpl implements Subscription {
  active = true;
  readonly confirmed = deferred<void>();

  constructor(
    readonly channel: string,
    readonly handlers: SubscriptionHandlers<any>,
    private readonly leave: (s: SubscriptionImpl) => void,
  ) {}

  ready(): Promise<void> {
    return this.confirmed.promise;
  }

  unsubscribe(): void {
    if (!this.active) return;
    this.active = false;
    this.confirmed.reject(new RTMateError(LocalCode.Closed, "unsubscribed", "subscribe"));
    this.leave(this);
  }
}

const OPEN = 1;
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * RTMateClient is one connection to an RTMate server: it authenticates, keeps the connection
 * alive (pings, token refresh, reconnect with backoff) and restores subscriptions after a
 * reconnect, recovering missed publications where the channel keeps history.
 *
 * Not safe to share across threads (JavaScript has none); every method may be called in any state.
 */
export class RTMateClient extends Emitter<ClientEvents> {
  private readonly opts: RTMateClientOptions;
  private readonly WS: WebSocketConstructor;
  private readonly pingIntervalMs: number;
  private readonly pingTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly connectTimeoutMs: number;

  private _state: ConnectionState = "disconnected";
  private _clientId: string | undefined;
  private conn: Conn | null = null;
  /** True between connect() and close(): the client should be connected. */
  private wanted = false;
  private attempt = 0;
  /** Bumped by every attempt and by close(), so a stale async step can tell it is stale. */
  private attemptSeq = 0;
  private reconnectTimer: Timer | undefined;
  private connectWait: Deferred<void> | null = null;
  private seq = 0;
  private waiters: Waiter[] = [];
  private readonly channels = new Map<string, ChannelState>();

  constructor(opts: RTMateClientOptions) {
    super();
    if (!opts || !opts.url || !opts.appId || typeof opts.getToken !== "function") {
      throw new TypeError("RTMateClient: url, appId and getToken are required");
    }
    const WS = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS) {
      throw new TypeError("RTMateClient: no global WebSocket; pass one, e.g. { WebSocket } from the 'ws' package");
    }
    this.opts = opts;
    this.WS = WS;
    this.pingIntervalMs = opts.pingIntervalMs ?? 25_000;
    this.pingTimeoutMs = opts.pingTimeoutMs ?? 10_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
  }

  /** state is the current connection state. */
  get state(): ConnectionState {
    return this._state;
  }

  /** clientId is the server's id of the current (or last) connection. */
  get clientId(): string | undefined {
    return this._clientId;
  }

  /**
   * connect opens the connection and authenticates. It resolves once connected; it rejects
   * when the server refuses the credentials (RTMateError), when close() is called first, or —
   * with reconnect disabled — when the connection fails. With reconnect enabled, network
   * failures are retried with backoff (reported by 'state' and 'error' events).
   */
  connect(): Promise<void> {
    if (this._state === "connected") return Promise.resolve();
    if (!this.connectWait) this.connectWait = deferred<void>();
    const wait = this.connectWait;
    if (!this.wanted) {
      this.wanted = true;
      this.attempt = 0;
      this.openAttempt();
    } else if (!this.conn && this.reconnectTimer === undefined && this._state !== "connecting") {
      this.openAttempt();
    }
    return wait.promise;
  }

  /** close disconnects for good (until connect() is called again) and fails outstanding requests. */
  close(): void {
    this.wanted = false;
    this.attemptSeq++;
    this.clearReconnect();
    const conn = this.conn;
    if (conn) {
      this.conn = null;
      this.dropConn(conn, new RTMateError(LocalCode.Closed, "client closed"));
      try {
        conn.ws.close(CloseCode.Normal, "client closed");
      } catch {
        // Closing a socket that never opened may throw; it is being discarded either way.
      }
    }
    this.shutdown({ code: CloseCode.Normal, reason: "client closed" });
  }

  /**
   * subscribe starts delivery of a channel's publications (and, on presence channels, of joins
   * and leaves) to handlers. It may be called in any state: the subscription is sent as soon
   * as the client is connected and restored after every reconnect.
   */
  subscribe<T = unknown>(channel: string, handlers: SubscriptionHandlers<T> = {}): Subscription {
    let ch = this.channels.get(channel);
    if (!ch) {
      ch = new ChannelState(channel);
      this.channels.set(channel, ch);
    }
    const sub = new SubscriptionImpl(channel, handlers, (s) => this.leave(s));
    ch.subs.add(sub);
    if (ch.status === "subscribed") {
      sub.confirmed.resolve();
    } else if (ch.status === "pending" && this.isReady()) {
      this.sendSubscribe(ch, this.conn!);
    }
    return sub;
  }

  /** send publishes data (any JSON value) to channel; resolves with the server's `{channel, offset?}`. */
  send(channel: string, data: unknown, opts?: RequestOptions): Promise<ChannelData> {
    return this.request<ChannelData>("messageSend", { channel, data }, opts);
  }

  /** presence lists the members of a presence channel. */
  presence(channel: string, opts?: RequestOptions): Promise<PresenceData> {
    return this.request<PresenceData>("presence", { channel }, opts);
  }

  /** history returns the publications a channel kept, after `since`, at most `limit`. */
  history(channel: string, h: HistoryOptions = {}, opts?: RequestOptions): Promise<HistoryData> {
    const payload: { channel: string; since?: number; limit?: number } = { channel };
    if (h.since !== undefined) payload.since = h.since;
    if (h.limit !== undefined) payload.limit = h.limit;
    return this.request<HistoryData>("history", payload, opts);
  }

  /**
   * rpc calls `method` of the app's rpc script (docs/scripts.md) with `data` and resolves with
   * the script's answer (null when it gave none). A script's error rejects with an RTMateError
   * carrying the code it chose (400 参数错误, 403 无权限, 429) and its `reason`; an app without an
   * rpc script rejects with 400 不支持的事件类型, and a `method` that is not 1–64 characters of
   * [A-Za-z0-9_.:-] with 400 参数错误.
   */
  rpc<T = unknown>(method: string, data?: unknown, opts?: RequestOptions): Promise<T> {
    return this.request<{ method: string; data: T }>("rpc", { method, data: data === undefined ? null : data }, opts).then((r) => r.data);
  }

  /** ping asks the server for a `ping` response (the client also pings by itself). */
  ping(opts?: RequestOptions): Promise<void> {
    return this.request<null>("ping", undefined, opts).then(() => undefined);
  }

  // ---- connection lifecycle ----------------------------------------------------------------

  private isReady(): boolean {
    return this._state === "connected" && this.conn !== null && this.conn.authed;
  }

  private setState(state: ConnectionState, info: StateInfo = {}): void {
    if (this._state === state) return;
    this._state = state;
    this.emit("state", state, info);
  }

  private reportError(err: Error): void {
    this.emit("error", err);
  }

  private async openAttempt(): Promise<void> {
    const seq = ++this.attemptSeq;
    this.clearReconnect();
    this.setState("connecting");
    let token: string;
    try {
      token = await this.opts.getToken();
      if (typeof token !== "string" || token === "") throw new TypeError("getToken returned no token");
    } catch (err) {
      if (seq !== this.attemptSeq) return;
      this.attemptFailed({ error: asError(err, "getToken failed") });
      return;
    }
    if (seq !== this.attemptSeq || !this.wanted) return;

    let ws: WebSocketLike;
    try {
      ws = new this.WS(this.opts.url);
    } catch (err) {
      this.attemptFailed({ error: asError(err, "cannot open WebSocket") });
      return;
    }
    const times = jwtTimes(token);
    const conn: Conn = {
      ws,
      pending: new Map(),
      authed: false,
      token,
      tokenExp: times?.exp,
      pingTimer: undefined,
      refreshTimer: undefined,
      openTimer: undefined,
    };
    this.conn = conn;
    conn.openTimer = setTimeout(() => {
      if (this.conn !== conn || conn.authed) return;
      this.abandon(conn);
      this.attemptFailed({
        reason: "connect timeout",
        error: new RTMateError(LocalCode.Timeout, `no connection within ${this.connectTimeoutMs} ms`),
      });
    }, this.connectTimeoutMs);
    ws.onopen = () => {
      if (this.conn === conn) this.authenticate(conn);
    };
    ws.onmessage = (ev: { data: unknown }) => {
      if (this.conn === conn) this.onFrame(conn, ev.data);
    };
    ws.onerror = () => {
      // The browser tells nothing more; a close event follows and carries the code.
      if (this.conn === conn) this.reportError(new Error(`RTMate: WebSocket error on ${this.opts.url}`));
    };
    ws.onclose = (ev: { code?: number; reason?: string }) => {
      if (this.conn === conn) this.connLost(conn, { code: ev.code ?? 1006, reason: ev.reason ?? "" });
    };
  }

  private authenticate(conn: Conn): void {
    this.rawRequest<AuthData>(conn, "auth", { appId: this.opts.appId, token: conn.token }).then(
      (data) => {
        if (this.conn !== conn) return;
        conn.authed = true;
        clearTimeout(conn.openTimer);
        this._clientId = data?.client_id;
        this.attempt = 0;
        this.setState("connected");
        const wait = this.connectWait;
        this.connectWait = null;
        wait?.resolve();
        this.schedulePing(conn);
        this.scheduleRefresh(conn);
        for (const ch of this.channels.values()) {
          if (ch.status === "pending") this.sendSubscribe(ch, conn);
        }
        this.flushWaiters(conn);
      },
      (err: RTMateError) => {
        if (this.conn !== conn) return;
        if (!err.local && this.connectWait) {
          // The server refused fresh credentials while someone awaits connect(): retrying
          // would only repeat the refusal.
          this.abandon(conn);
          this.shutdown({ error: err });
          return;
        }
        this.abandon(conn);
        this.attemptFailed({ error: err, reason: "auth failed" });
      },
    );
  }

  /** connLost handles the end of conn (server close, network failure, dead ping). */
  private connLost(conn: Conn, info: StateInfo): void {
    this.conn = null;
    this.dropConn(conn, new RTMateError(LocalCode.ConnectionLost, "connection lost"));
    if (!this.wanted) return;
    if (info.code === CloseCode.DisconnectedByServer) {
      // The app's backend disconnected this client on purpose; coming back would defeat it.
      this.shutdown(info);
      return;
    }
    this.attemptFailed(info);
  }

  /** attemptFailed schedules the next attempt, or gives up when reconnecting is disabled. */
  private attemptFailed(info: StateInfo): void {
    if (info.error) this.reportError(info.error);
    if (this.opts.reconnect === false) {
      this.wanted = false;
      const wait = this.connectWait;
      this.connectWait = null;
      this.setState("disconnected", info);
      wait?.reject(info.error ?? new RTMateError(LocalCode.ConnectionLost, `connection closed (${info.code ?? "?"})`));
      return;
    }
    // 4001: the token ran out; a fresh one from getToken fixes that at once.
    const immediate = info.code === CloseCode.TokenExpired && this.attempt === 0;
    const delay = immediate ? 0 : backoffDelay(this.attempt, this.opts.reconnect);
    this.attempt++;
    this.setState("disconnected", { ...info, retryInMs: delay });
    this.clearReconnect();
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.wanted && !this.conn) this.openAttempt();
    }, delay);
  }

  /** shutdown moves to 'closed': no more attempts, every waiting promise fails. */
  private shutdown(info: StateInfo): void {
    this.wanted = false;
    this.attemptSeq++;
    this.clearReconnect();
    const err = info.error instanceof RTMateError ? info.error : new RTMateError(LocalCode.Closed, closedMessage(info));
    const wait = this.connectWait;
    this.connectWait = null;
    wait?.reject(err);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      clearTimeout(w.timer);
      w.reject(new RTMateError(LocalCode.Closed, closedMessage(info), w.event));
    }
    this.setState("closed", info);
  }

  /** dropConn fails conn's outstanding requests and stops its timers; subscriptions wait for the next connection. */
  private dropConn(conn: Conn, err: RTMateError): void {
    conn.authed = false;
    clearTimeout(conn.pingTimer);
    clearTimeout(conn.refreshTimer);
    clearTimeout(conn.openTimer);
    // A discarded socket may still report an error; `ws` throws on an unheard 'error'.
    conn.ws.onopen = null;
    conn.ws.onmessage = null;
    conn.ws.onclose = null;
    conn.ws.onerror = () => {};
    const pending = [...conn.pending.values()];
    conn.pending.clear();
    for (const p of pending) {
      clearTimeout(p.timer);
      p.reject(new RTMateError(err.code, err.message, p.event));
    }
    for (const ch of this.channels.values()) {
      if (ch.conn === conn) {
        ch.conn = null;
        ch.status = "pending";
        ch.buffer = null;
        ch.resync = null;
      }
    }
  }

  /** abandon discards conn without waiting for a closing handshake a dead peer would never answer. */
  private abandon(conn: Conn): void {
    if (this.conn === conn) this.conn = null;
    this.dropConn(conn, new RTMateError(LocalCode.ConnectionLost, "connection lost"));
    try {
      if (conn.ws.terminate) conn.ws.terminate();
      else conn.ws.close(CloseCode.Normal, "client abandoned connection");
    } catch {
      // The socket is being discarded; a failure to close it changes nothing.
    }
  }

  private clearReconnect(): void {
    if (this.reconnectTimer !== undefined) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
    }
  }

  // ---- keepalive and token refresh ---------------------------------------------------------

  private schedulePing(conn: Conn): void {
    if (this.pingIntervalMs <= 0) return;
    clearTimeout(conn.pingTimer);
    conn.pingTimer = setTimeout(() => {
      if (this.conn !== conn || !conn.authed) return;
      this.rawRequest(conn, "ping", undefined, { timeoutMs: this.pingTimeoutMs }).then(
        () => this.schedulePing(conn),
        (err: RTMateError) => {
          if (this.conn !== conn) return;
          if (err.code === LocalCode.Timeout) {
            // No answer: the connection is dead even if TCP has not noticed yet.
            this.abandon(conn);
            this.attemptFailed({ code: 1006, reason: "ping timeout", error: err });
          } else {
            this.schedulePing(conn);
          }
        },
      );
    }, this.pingIntervalMs);
  }

  private scheduleRefresh(conn: Conn): void {
    clearTimeout(conn.refreshTimer);
    const times = jwtTimes(conn.token);
    if (!times) return;
    const delay = refreshDelayMs(times, Date.now());
    // Timers overflow past 2^31-1 ms (and then fire at once); long-lived tokens are rechecked.
    conn.refreshTimer = setTimeout(() => {
      if (refreshDelayMs(times, Date.now()) > 0 && delay > MAX_TIMER_MS) this.scheduleRefresh(conn);
      else void this.refresh(conn, times.exp);
    }, Math.min(delay, MAX_TIMER_MS));
  }

  /** refresh fetches a new token and sends `auth` again on the live connection. */
  private async refresh(conn: Conn, oldExp: number): Promise<void> {
    let token: string;
    try {
      token = await this.opts.getToken();
    } catch (err) {
      this.refreshFailed(conn, oldExp, asError(err, "getToken failed during token refresh"));
      return;
    }
    if (this.conn !== conn || !conn.authed) return;
    const times = jwtTimes(token);
    if (times && times.exp <= oldExp) {
      this.refreshFailed(conn, oldExp, new Error("RTMate: getToken returned a token that does not outlive the current one"));
      return;
    }
    try {
      await this.rawRequest(conn, "auth", { appId: this.opts.appId, token });
    } catch (err) {
      if (this.conn !== conn) return;
      this.refreshFailed(conn, oldExp, asError(err, "token refresh failed"));
      return;
    }
    if (this.conn !== conn) return;
    conn.token = token;
    conn.tokenExp = times?.exp;
    this.scheduleRefresh(conn);
  }

  /** refreshFailed reports err and tries again while the old token is still valid; else the server's 4001 leads to a reconnect. */
  private refreshFailed(conn: Conn, oldExp: number, err: Error): void {
    this.reportError(err);
    if (this.conn !== conn) return;
    const left = oldExp * 1000 - Date.now();
    if (left > 2_000) {
      clearTimeout(conn.refreshTimer);
      conn.refreshTimer = setTimeout(() => void this.refresh(conn, oldExp), Math.max(1_000, left / 3));
    }
  }

  // ---- requests ------------------------------------------------------------------------------

  /** request sends now when connected, or waits (bounded by the request timeout) for the connection. */
  private request<T>(event: string, payload: unknown, opts?: RequestOptions): Promise<T> {
    if (this.isReady()) return this.rawRequest<T>(this.conn!, event, payload, opts);
    if (!this.wanted) {
      const why = this._state === "closed" ? "client closed" : "not connected: call connect() first";
      return Promise.reject(new RTMateError(LocalCode.Closed, why, event));
    }
    return new Promise<T>((resolve, reject) => {
      const w: Waiter = {
        event,
        payload,
        opts,
        resolve: resolve as (d: unknown) => void,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w);
          reject(new RTMateError(LocalCode.Timeout, "request timed out waiting for a connection", event));
        }, opts?.timeoutMs ?? this.requestTimeoutMs),
      };
      this.waiters.push(w);
    });
  }

  private flushWaiters(conn: Conn): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      clearTimeout(w.timer);
      this.rawRequest(conn, w.event, w.payload, w.opts).then(w.resolve, w.reject);
    }
  }

  /** rawRequest sends one request on conn and settles with its response (matched by id). */
  private rawRequest<T>(conn: Conn, event: string, payload: unknown, opts?: RequestOptions): Promise<T> {
    const id = ++this.seq;
    const env: { event: string; id: number; payload?: unknown; metadata?: { traceId: string } } = { event, id };
    if (payload !== undefined) env.payload = payload;
    if (opts?.traceId) env.metadata = { traceId: opts.traceId };
    let text: string;
    try {
      text = JSON.stringify(env);
    } catch (err) {
      return Promise.reject(new RTMateError(LocalCode.BadResponse, `cannot encode request: ${asError(err, "").message}`, event));
    }
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        conn.pending.delete(id);
        reject(new RTMateError(LocalCode.Timeout, "request timed out", event));
      }, opts?.timeoutMs ?? this.requestTimeoutMs);
      conn.pending.set(id, { event, resolve: resolve as (d: unknown) => void, reject, timer });
      if (conn.ws.readyState !== OPEN) {
        conn.pending.delete(id);
        clearTimeout(timer);
        reject(new RTMateError(LocalCode.ConnectionLost, "connection not open", event));
        return;
      }
      try {
        conn.ws.send(text);
      } catch (err) {
        conn.pending.delete(id);
        clearTimeout(timer);
        reject(new RTMateError(LocalCode.ConnectionLost, `send failed: ${asError(err, "").message}`, event));
      }
    });
  }

  // ---- incoming ------------------------------------------------------------------------------

  private onFrame(conn: Conn, raw: unknown): void {
    if (typeof raw !== "string") {
      this.reportError(new RTMateError(LocalCode.BadResponse, "binary frame from server"));
      return;
    }
    let env: Envelope;
    try {
      env = JSON.parse(raw) as Envelope;
    } catch {
      this.reportError(new RTMateError(LocalCode.BadResponse, "unparsable frame from server"));
      return;
    }
    if (env === null || typeof env !== "object") return;
    if (env.id !== undefined && env.id !== null) {
      const p = typeof env.id === "number" ? conn.pending.get(env.id) : undefined;
      if (!p) return; // a response that came after its timeout
      conn.pending.delete(env.id as number);
      clearTimeout(p.timer);
      if (env.code === 200) p.resolve(env.data);
      else p.reject(new RTMateError(env.code, env.message, env.event ?? p.event, env.traceId, reasonOf(env.data)));
      return;
    }
    switch (env.event) {
      case "message":
        this.onPublication(env.data as Publication);
        return;
      case "join":
      case "leave":
        this.onPresence(env.event, env.data as PresenceEvent);
        return;
      case "resync":
        this.onResync(env.data as ResyncData);
        return;
    }
    if (env.code !== 200) {
      // An error with no id answers a request the server could not read.
      this.reportError(new RTMateError(env.code, env.message, env.event, env.traceId));
    }
  }

  private onPublication(pub: Publication): void {
    if (!pub || typeof pub.channel !== "string") return;
    const ch = this.channels.get(pub.channel);
    if (!ch) return;
    if (ch.buffer) ch.buffer.push(pub);
    else this.deliver(ch, pub);
  }

  /** deliver hands pub to ch's handlers unless its offset was delivered already. */
  private deliver(ch: ChannelState, pub: Publication): void {
    if (typeof pub.offset === "number") {
      if (ch.offset !== undefined && pub.offset <= ch.offset) return;
      ch.offset = pub.offset;
    }
    const full: Publication = pub.channel === undefined ? { ...pub, channel: ch.name } : pub;
    for (const sub of [...ch.subs]) {
      if (sub.active) this.call(sub, "onMessage", full.data, full);
    }
  }

  /** onResync moves ch to the push's epoch, so that a later recovery asks for the new stream. */
  private onResync(r: ResyncData): void {
    if (!r || typeof r.channel !== "string" || typeof r.epoch !== "string") return;
    const ch = this.channels.get(r.channel);
    if (!ch) return;
    if (ch.buffer) {
      ch.resync = r;
      return;
    }
    if (ch.epoch === r.epoch) return; // subscribed after the change, from an answer that had it
    this.applyResync(ch, r);
    this.tellResync(ch);
  }

  private applyResync(ch: ChannelState, r: ResyncData): void {
    ch.epoch = r.epoch;
    ch.offset = typeof r.offset === "number" ? r.offset : 0;
  }

  /** tellResync reports a resync like an unrecovered resubscription, with reason "resync". */
  private tellResync(ch: ChannelState): void {
    const info: SubscribedInfo = { channel: ch.name, resubscribed: true, recovered: false, reason: "resync" };
    if (ch.epoch !== undefined) info.epoch = ch.epoch;
    if (ch.offset !== undefined) info.offset = ch.offset;
    for (const sub of [...ch.subs]) {
      if (sub.active) this.call(sub, "onSubscribe", info);
    }
  }

  private onPresence(kind: "join" | "leave", ev: PresenceEvent): void {
    if (!ev || typeof ev.channel !== "string") return;
    const ch = this.channels.get(ev.channel);
    if (!ch) return;
    const name = kind === "join" ? "onJoin" : "onLeave";
    for (const sub of [...ch.subs]) {
      if (sub.active) this.call(sub, name, ev);
    }
  }

  /** call runs one handler; a throwing handler is reported, never allowed to break the client. */
  private call<K extends keyof SubscriptionHandlers>(sub: SubscriptionImpl, name: K, ...args: unknown[]): void {
    const fn = sub.handlers[name] as ((...a: unknown[]) => void) | undefined;
    if (!fn) return;
    try {
      fn.apply(sub.handlers, args);
    } catch (err) {
      const e = asError(err, `${name} handler threw`);
      if (this.listenerCount("error") > 0) this.reportError(e);
      else
        queueMicrotask(() => {
          throw e;
        });
    }
  }

  // ---- subscriptions -------------------------------------------------------------------------

  private sendSubscribe(ch: ChannelState, conn: Conn): void {
    const recover = ch.everSubscribed && ch.epoch !== undefined;
    const payload: { channel: string; recover?: boolean; offset?: number; epoch?: string } = { channel: ch.name };
    if (recover) {
      payload.recover = true;
      payload.offset = ch.offset ?? 0;
      payload.epoch = ch.epoch;
      ch.buffer = [];
    }
    ch.status = "subscribing";
    ch.conn = conn;
    this.rawRequest<SubscribeData>(conn, "subscribe", payload).then(
      (data) => {
        if (this.channels.get(ch.name) !== ch || ch.conn !== conn) return; // left or reconnected meanwhile
        this.subscribed(ch, data ?? { channel: ch.name }, recover);
      },
      (err: RTMateError) => {
        if (this.channels.get(ch.name) !== ch || ch.conn !== conn) return;
        ch.buffer = null;
        ch.resync = null;
        if (err.local) {
          // The connection went (it will be resubscribed) or the server is silent (the ping notices).
          ch.status = "pending";
          ch.conn = null;
          if (err.code === LocalCode.Timeout) this.reportError(err);
          return;
        }
        if (err.is("RateLimited") && this.conn === conn) {
          // Many channels restored at once may hit the request rate limit; try again later.
          ch.status = "pending";
          ch.conn = null;
          setTimeout(() => {
            if (this.channels.get(ch.name) === ch && ch.status === "pending" && this.isReady()) {
              this.sendSubscribe(ch, this.conn!);
            }
          }, 500 + backoffDelay(2));
          return;
        }
        // Refused for good: the subscription ends.
        this.channels.delete(ch.name);
        let told = false;
        for (const sub of [...ch.subs]) {
          sub.active = false;
          sub.confirmed.reject(err);
          if (sub.handlers.onError) {
            told = true;
            this.call(sub, "onError", err);
          }
        }
        if (!told) this.reportError(err);
      },
    );
  }

  private subscribed(ch: ChannelState, data: SubscribeData, recover: boolean): void {
    const resubscribed = ch.everSubscribed;
    ch.everSubscribed = true;
    ch.status = "subscribed";
    let recovered = false;
    const pubs = Array.isArray(data.publications) ? [...data.publications] : [];
    if (typeof data.epoch === "string") {
      if (recover && data.epoch === ch.epoch) {
        recovered = data.recovered === true;
      } else if (recover) {
        // A new epoch (history lost, e.g. the server restarted): old offsets mean nothing in it.
        ch.offset = undefined;
      }
      ch.epoch = data.epoch;
    }
    pubs.sort((a, b) => (a.offset ?? 0) - (b.offset ?? 0));
    for (const p of pubs) this.deliver(ch, p);
    if (typeof data.offset === "number" && (ch.offset === undefined || data.offset > ch.offset)) {
      // Publications up to the stream's top at subscribe time were not for us (first
      // subscribe) or were just delivered (recovery).
      ch.offset = data.offset;
    } else if (typeof data.epoch === "string" && ch.offset === undefined) {
      ch.offset = 0;
    }
    const held = ch.buffer ?? [];
    const rs = ch.resync;
    ch.buffer = ch.resync = null;
    // A resync that came while the answer was outstanding: the answer predates the new
    // epoch, the held pushes belong to it.
    const resynced = rs !== null && rs.epoch !== ch.epoch;
    if (resynced) this.applyResync(ch, rs);
    for (const p of held) this.deliver(ch, p);

    const info: SubscribedInfo = { channel: ch.name, resubscribed, recovered };
    if (ch.epoch !== undefined) info.epoch = ch.epoch;
    if (ch.offset !== undefined) info.offset = ch.offset;
    for (const sub of [...ch.subs]) {
      if (!sub.active) continue;
      sub.confirmed.resolve();
      this.call(sub, "onSubscribe", info);
    }
    if (resynced) this.tellResync(ch);
  }

  private leave(sub: SubscriptionImpl): void {
    const ch = this.channels.get(sub.channel);
    if (!ch || !ch.subs.delete(sub) || ch.subs.size > 0) return;
    this.channels.delete(ch.name);
    const conn = ch.conn;
    if (conn && conn === this.conn && conn.authed && ch.status !== "pending") {
      this.rawRequest(conn, "unsubscribe", { channel: ch.name }).catch((err: RTMateError) => {
        if (!err.local) this.reportError(err);
      });
    }
  }
}

function asError(err: unknown, context: string): Error {
  if (err instanceof Error) return err;
  return new Error(`RTMate: ${context}: ${String(err)}`);
}

function closedMessage(info: StateInfo): string {
  if (info.code === CloseCode.DisconnectedByServer) return `disconnected by server (${info.code}${info.reason ? " " + info.reason : ""})`;
  if (info.code !== undefined) return `client closed (${info.code}${info.reason ? " " + info.reason : ""})`;
  return "client closed";
}

/** reasonOf reads data.reason of an error response (a server script's reason). */
function reasonOf(data: unknown): string | undefined {
  if (data !== null && typeof data === "object" && typeof (data as { reason?: unknown }).reason === "string") {
    return (data as { reason: string }).reason;
  }
  return undefined;
}
