/**
 * Emitter is a minimal typed event emitter that works the same in browsers and Node. Unlike
 * Node's EventEmitter, an 'error' without listeners is dropped, not thrown: a realtime client
 * reports errors it recovers from by itself, and must not crash an app that ignores them.
 */
export class Emitter {
    listeners = new Map();
    /** on adds a listener and returns a function that removes it. */
    on(event, fn) {
        let set = this.listeners.get(event);
        if (!set) {
            set = new Set();
            this.listeners.set(event, set);
        }
        set.add(fn);
        return () => this.off(event, fn);
    }
    /** once adds a listener that runs at most once. */
    once(event, fn) {
        const wrapped = ((...args) => {
            off();
            fn(...args);
        });
        const off = this.on(event, wrapped);
        return off;
    }
    off(event, fn) {
        this.listeners.get(event)?.delete(fn);
    }
    /** listenerCount tells whether anyone listens to event. */
    listenerCount(event) {
        return this.listeners.get(event)?.size ?? 0;
    }
    emit(event, ...args) {
        const set = this.listeners.get(event);
        if (!set)
            return;
        for (const fn of [...set]) {
            try {
                fn(...args);
            }
            catch (err) {
                // A throwing listener must not break the client's read loop; surface it asynchronously.
                queueMicrotask(() => {
                    throw err;
                });
            }
        }
    }
}
