// @rtmate/client: the RTMate realtime client for browsers and Node.js. Entry point: RTMateClient.
export { RTMateClient, } from "./client.js";
export { RTMateError, LocalCode } from "./errors.js";
export { CloseCode, WsBizCode } from "./codes.js";
export { backoffDelay } from "./backoff.js";
export { jwtTimes, refreshDelayMs } from "./jwt.js";
