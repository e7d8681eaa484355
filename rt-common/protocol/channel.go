package protocol

import "strings"

// MaxChannelLen is the longest channel name, in bytes.
const MaxChannelLen = 255

// PresencePrefix marks a presence channel by name; apps may configure more patterns.
const PresencePrefix = "presence-"

// channelByte marks the bytes allowed in a channel name: [A-Za-z0-9_\-=@,.;:/].
var channelByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "_-=@,.;:/" {
		t[c] = true
	}
	return t
}()

// ValidChannel reports whether name is a legal channel name.
func ValidChannel(name string) bool {
	if len(name) == 0 || len(name) > MaxChannelLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !channelByte[name[i]] {
			return false
		}
	}
	return true
}

// MatchPattern reports whether channel matches pattern, where a trailing '*' matches any
// suffix (including none) and anything else must match exactly. It is the rule for the
// token's channels claim and for an app's presence patterns.
func MatchPattern(pattern, channel string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(channel, prefix)
	}
	return pattern == channel
}
