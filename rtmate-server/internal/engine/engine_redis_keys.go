package engine

import (
	"encoding/binary"
	"errors"
	"strings"
	"unsafe"
)

// keyspace builds the Redis names of one engine. Every per-channel name carries the hash tag
// {app:channel}, so that a channel's keys and its shard channel live in one cluster slot (the
// publish script touches them together). Channel names cannot contain braces (see
// protocol.ValidChannel) and app ids cannot contain ':', so the tag is unambiguous.
//
//	<prefix>m{app:ch}   hash: o = last offset, e = epoch           (history meta)
//	<prefix>h{app:ch}   stream: id <offset>-0, field b = body        (history)
//	<prefix>p{app:ch}   hash: client_id → "<node_id>:<user_id>"      (presence)
//	<prefix>c{app:ch}   (sharded) pub/sub channel
//	<prefix>node:<id>   string with a TTL: the node's heartbeat
//	<prefix>nodes       hash: node id → "<heartbeat ms>:<status JSON>" (the node registry)
type keyspace struct {
	prefix string
}

func (k keyspace) channelKey(kind byte, ch ChannelKey) string {
	var b strings.Builder
	b.Grow(len(k.prefix) + len(ch.App) + len(ch.Name) + 4)
	b.WriteString(k.prefix)
	b.WriteByte(kind)
	b.WriteByte('{')
	b.WriteString(ch.App)
	b.WriteByte(':')
	b.WriteString(ch.Name)
	b.WriteByte('}')
	return b.String()
}

func (k keyspace) meta(ch ChannelKey) string     { return k.channelKey('m', ch) }
func (k keyspace) stream(ch ChannelKey) string   { return k.channelKey('h', ch) }
func (k keyspace) presence(ch ChannelKey) string { return k.channelKey('p', ch) }
func (k keyspace) topic(ch ChannelKey) string    { return k.channelKey('c', ch) }
func (k keyspace) node(id string) string         { return k.prefix + "node:" + id }
func (k keyspace) nodes() string                 { return k.prefix + "nodes" }

// parseTopic returns the channel of a pub/sub channel name. The strings share the topic's
// memory: callers that keep the key must clone it.
func (k keyspace) parseTopic(topic string) (ChannelKey, bool) {
	if len(topic) < len(k.prefix)+5 || topic[:len(k.prefix)] != k.prefix || topic[len(k.prefix)] != 'c' ||
		topic[len(k.prefix)+1] != '{' || topic[len(topic)-1] != '}' {
		return ChannelKey{}, false
	}
	tag := topic[len(k.prefix)+2 : len(topic)-1]
	i := strings.IndexByte(tag, ':')
	if i <= 0 || i == len(tag)-1 {
		return ChannelKey{}, false
	}
	return ChannelKey{App: tag[:i], Name: tag[i+1:]}, true
}

// The wire format of a publication between nodes. The publish script prepends what only
// Redis knows at that moment, the offset and the epoch, to a body the publisher encoded:
//
//	payload = <offset decimal> ':' <epoch> ':' body     (offset 0 and no epoch without history)
//	body    = kind byte, uvarint len + client id, uvarint len + user id, data (the rest)
//
// The stream keeps the body alone (its entry id is the offset). Kind bytes from 0x80 up are
// reserved for a future format.

var errBadPayload = errors.New("engine: malformed publication from redis")

// appendBody encodes pub's body to dst.
func appendBody(dst []byte, pub *Publication) []byte {
	dst = append(dst, byte(pub.Kind))
	dst = binary.AppendUvarint(dst, uint64(len(pub.ClientID)))
	dst = append(dst, pub.ClientID...)
	dst = binary.AppendUvarint(dst, uint64(len(pub.UserID)))
	dst = append(dst, pub.UserID...)
	return append(dst, pub.Data...)
}

// decodeBody fills pub from a body without copying: pub's strings and Data share s's memory.
// Data must therefore never be written to; every consumer of a Publication only reads it.
func decodeBody(s string, pub *Publication) error {
	if len(s) == 0 || s[0] > byte(KindLeave) {
		return errBadPayload
	}
	pub.Kind = Kind(s[0])
	rest := s[1:]
	var ok bool
	if pub.ClientID, rest, ok = readString(rest); !ok {
		return errBadPayload
	}
	if pub.UserID, rest, ok = readString(rest); !ok {
		return errBadPayload
	}
	pub.Data = nil
	if len(rest) > 0 {
		pub.Data = unsafe.Slice(unsafe.StringData(rest), len(rest)) // #nosec G103 -- read-only view of a string the delivery owns
	}
	return nil
}

func readString(s string) (v, rest string, ok bool) {
	n, w := uvarintString(s)
	if w <= 0 || n > uint64(len(s)-w) {
		return "", "", false
	}
	end := w + int(n)
	return s[w:end], s[end:], true
}

// uvarintString is binary.Uvarint over a string, which would otherwise need a copy.
func uvarintString(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		b := s[i]
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				return 0, -(i + 1)
			}
			return x | uint64(b)<<shift, i + 1
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	return 0, 0
}

// splitPayload separates a pub/sub payload into offset, epoch and body, without copying.
func splitPayload(s string) (offset uint64, epoch, body string, err error) {
	i := 0
	for ; i < len(s) && s[i] != ':'; i++ {
		c := s[i]
		if c < '0' || c > '9' || i >= 19 { // 19 digits always fit a uint64
			return 0, "", "", errBadPayload
		}
		offset = offset*10 + uint64(c-'0')
	}
	if i == 0 || i == len(s) {
		return 0, "", "", errBadPayload
	}
	rest := s[i+1:]
	j := strings.IndexByte(rest, ':')
	if j < 0 {
		return 0, "", "", errBadPayload
	}
	return offset, rest[:j], rest[j+1:], nil
}
