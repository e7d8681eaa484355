package auth

import (
	"fmt"
	"strings"
)

// originSet is an app's allowed_origins, prepared for a per-upgrade check that costs one map
// lookup for the common case (the browser's Origin is already in canonical form).
type originSet struct {
	any   bool
	exact map[string]struct{}
	wild  []wildOrigin
}

// wildOrigin is "scheme://*.suffix[:port]"; suffix keeps its leading dot.
type wildOrigin struct {
	scheme, suffix, port string
}

func parseOrigins(list []string) (originSet, error) {
	s := originSet{any: len(list) == 0, exact: map[string]struct{}{}}
	for i, o := range list {
		if o == "*" {
			s.any = true
			continue
		}
		scheme, host, port, ok := splitOrigin(strings.TrimSuffix(o, "/"))
		if !ok {
			return originSet{}, fmt.Errorf("allowed_origins[%d] %q: want scheme://host[:port], \"*\" or scheme://*.domain", i, o)
		}
		if rest, wild := strings.CutPrefix(host, "*."); wild {
			if rest == "" || strings.Contains(rest, "*") {
				return originSet{}, fmt.Errorf("allowed_origins[%d] %q: a wildcard needs a domain after \"*.\"", i, o)
			}
			s.wild = append(s.wild, wildOrigin{scheme: scheme, suffix: "." + rest, port: port})
			continue
		}
		if strings.Contains(host, "*") {
			return originSet{}, fmt.Errorf("allowed_origins[%d] %q: \"*\" is allowed only as the whole entry or as the first label (https://*.example.com)", i, o)
		}
		s.exact[joinOrigin(scheme, host, port)] = struct{}{}
	}
	return s, nil
}

func (s *originSet) allowed(origin string) bool {
	if s.any || origin == "" {
		return true
	}
	if _, ok := s.exact[origin]; ok {
		return true
	}
	scheme, host, port, ok := splitOrigin(origin)
	if !ok || strings.Contains(host, "*") {
		return false
	}
	if _, ok := s.exact[joinOrigin(scheme, host, port)]; ok {
		return true
	}
	for _, w := range s.wild {
		if w.scheme == scheme && w.port == port && len(host) > len(w.suffix) && strings.HasSuffix(host, w.suffix) {
			return true
		}
	}
	return false
}

// splitOrigin parses "scheme://host[:port]" (RFC 6454 serialization), lowercasing scheme and
// host and dropping the scheme's default port, so that equal origins compare equal.
func splitOrigin(o string) (scheme, host, port string, ok bool) {
	scheme, rest, ok := strings.Cut(o, "://")
	if !ok || scheme == "" || rest == "" || strings.ContainsAny(rest, "/?#@ \t\\") {
		return "", "", "", false
	}
	host = rest
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && i > strings.LastIndexByte(rest, ']') {
		host, port = rest[:i], rest[i+1:]
		if port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
			return "", "", "", false
		}
	}
	if host == "" {
		return "", "", "", false
	}
	scheme, host = strings.ToLower(scheme), strings.ToLower(host)
	if scheme == "http" && port == "80" || scheme == "https" && port == "443" {
		port = ""
	}
	return scheme, host, port, true
}

func joinOrigin(scheme, host, port string) string {
	if port == "" {
		return scheme + "://" + host
	}
	return scheme + "://" + host + ":" + port
}
