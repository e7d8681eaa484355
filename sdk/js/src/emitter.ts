type Listener = (...args: any[]) => void;

/**
 * Emitter is a minimal typed event emitter that works the same in browsers and Node. Unlike
 * Node's EventEmitter, an 'error' without listeners is dropped, not thrown: a realtime client
 * reports errors it recovers from by itself, and must not crash an app that ignores them.
 */
export class Emitter<Events extends { [K in keyof Events]: Listener }> {
  private listeners = new Map<keyof Events, Set<Listener>>();

  /** on adds a listener and returns a function that removes it. */
  on<K extends keyof Events>(event: K, fn: Events[K]): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(fn);
    return () => this.off(event, fn);
  }

  /** once adds a listener that runs at most once. */
  once<K extends keyof Events>(event: K, fn: Events[K]): () => void {
    const wrapped = ((...args: unknown[]) => {
      off();
      fn(...args);
    }) as Events[K];
    const off = this.on(event, wrapped);
    return off;
  }

  off<K extends keyof Events>(event: K, fn: Events[K]): void {
    this.listeners.get(event)?.delete(fn);
  }

  /** listenerCount tells whether anyone listens to event. */
  listenerCount<K extends keyof Events>(event: K): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  protected emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(...args);
      } catch (err) {
        // A throwing listener must not break the client's read loop; surface it asynchronously.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
