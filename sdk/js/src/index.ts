// @rtmate/client: the RTMate realtime client for browsers and Node.js. Entry point: RTMateClient.
export {
  RTMateClient,
  type ClientEvents,
  type ConnectionState,
  type RequestOptions,
  type RTMateClientOptions,
  type StateInfo,
  type SubscribedInfo,
  type Subscription,
  type SubscriptionHandlers,
  type WebSocketConstructor,
  type WebSocketLike,
} from "./client.js";
export { RTMateError, LocalCode } from "./errors.js";
export { CloseCode, WsBizCode, type WsBizCodeName } from "./codes.js";
export { backoffDelay, type BackoffOptions } from "./backoff.js";
export { jwtTimes, refreshDelayMs } from "./jwt.js";
export type * from "./types.js";
