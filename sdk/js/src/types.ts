// Wire shapes of protocol v1 (see docs/protocol.md). Field names are the wire's.

/** A JSON value as the server relays it: whatever the publisher sent. */
export type JSONValue = null | boolean | number | string | JSONValue[] | { [key: string]: JSONValue };

/** Envelope is every server → client message: a response (with `id`) or a push (without). */
export interface Envelope<D = unknown> {
  code: number;
  message: string;
  data: D;
  event?: string | null;
  id?: string | number;
  traceId?: string;
}

/** AuthData is the success data of `auth`. */
export interface AuthData {
  state: boolean;
  client_id: string;
}

/** Member is one member of a presence channel. */
export interface Member {
  client_id: string;
  user_id: string;
}

/** PresenceEvent is the data of a `join` or `leave` push. */
export interface PresenceEvent extends Member {
  channel: string;
}

/** PresenceData is the success data of `presence`. */
export interface PresenceData {
  channel: string;
  count: number;
  members: Member[];
}

/**
 * Publication is one published message: the data of a `message` push, or an element of a
 * recovery or history list (where `channel` may be absent). `offset` is present only on
 * channels that keep history.
 */
export interface Publication<T = unknown> {
  channel?: string;
  data: T;
  from: string;
  offset?: number;
}

/** SubscribeData is the success data of `subscribe`. */
export interface SubscribeData {
  channel: string;
  epoch?: string;
  offset?: number;
  recovered?: boolean;
  publications?: Publication[];
}

/**
 * ResyncData is the data of a `resync` push: the channel's stream went on under a new epoch
 * while the client stayed subscribed (a Redis failover); publications may have been lost.
 * `offset` is the position just before the next publication the client receives.
 */
export interface ResyncData {
  channel: string;
  epoch: string;
  offset: number;
}

/** ChannelData is the success data of `unsubscribe` and `messageSend`. */
export interface ChannelData {
  channel: string;
  offset?: number;
}

/** HistoryData is the success data of `history`. */
export interface HistoryData {
  channel: string;
  epoch: string;
  offset: number;
  publications: Publication[];
}

/** HistoryOptions select a window of a channel's history. */
export interface HistoryOptions {
  /** Return publications with an offset greater than this one; 0 or absent = from the oldest kept. */
  since?: number;
  /** At most this many publications; absent = the server's default. */
  limit?: number;
}
