/**
 * backoffDelay is exponential backoff with full jitter: a uniform random delay between 0 and
 * min(max, min·2^attempt). Full jitter spreads a crowd of clients that lost the same server at
 * once (a restart sends 1001 to everyone) instead of having them return in waves.
 */
export function backoffDelay(attempt, opts = {}, random = Math.random) {
    const min = Math.max(1, opts.minDelayMs ?? 500);
    const max = Math.max(min, opts.maxDelayMs ?? 20_000);
    const ceiling = Math.min(max, min * 2 ** Math.min(attempt, 30));
    return Math.floor(random() * ceiling);
}
