/**
 * jwtTimes reads `exp` and `iat` (Unix seconds) from a JWT without verifying it: the client
 * only needs to know when to refresh, and the server is the one that checks signatures.
 * Returns undefined for anything that is not a readable JWT with a numeric exp.
 */
export function jwtTimes(token) {
    const parts = token.split(".");
    if (parts.length !== 3 || !parts[1])
        return undefined;
    try {
        const claims = JSON.parse(base64UrlDecode(parts[1]));
        if (typeof claims.exp !== "number" || !Number.isFinite(claims.exp))
            return undefined;
        const out = { exp: claims.exp };
        if (typeof claims.iat === "number" && Number.isFinite(claims.iat))
            out.iat = claims.iat;
        return out;
    }
    catch {
        return undefined;
    }
}
/** base64UrlDecode decodes unpadded base64url into a UTF-8 string (atob exists in browsers and Node ≥ 16). */
export function base64UrlDecode(s) {
    let b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    b64 += "=".repeat((4 - (b64.length % 4)) % 4);
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++)
        bytes[i] = bin.charCodeAt(i);
    return new TextDecoder().decode(bytes);
}
/**
 * refreshDelayMs is how long after `nowMs` to refresh a token: 10% of its lifetime before
 * exp, but never more than 30 s nor less than 1 s before it (short test tokens still get a
 * usable margin), and not sooner than now.
 */
export function refreshDelayMs(times, nowMs) {
    const expMs = times.exp * 1000;
    const startMs = times.iat !== undefined && times.iat * 1000 <= nowMs ? times.iat * 1000 : nowMs;
    const lifetime = Math.max(0, expMs - startMs);
    const margin = Math.min(30_000, Math.max(1_000, lifetime * 0.1), lifetime / 2);
    return Math.max(0, expMs - margin - nowMs);
}
