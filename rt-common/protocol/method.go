package protocol

// MaxMethodLen is the longest rpc method name.
const MaxMethodLen = 64

// ValidMethod reports whether name is a valid rpc method: 1 to 64 bytes of [A-Za-z0-9_.:-].
func ValidMethod(name []byte) bool {
	if len(name) == 0 || len(name) > MaxMethodLen {
		return false
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}
