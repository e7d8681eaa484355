// Wire shapes of protocol v1 (see docs/protocol.md). Field names are the wire's.
export {};
