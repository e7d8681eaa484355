package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// Sentinel finds the Redis master through Redis Sentinel and follows it through failovers.
type Sentinel struct {
	// MasterName is the master set the sentinels monitor (sentinel.conf's "monitor <name>").
	MasterName string `yaml:"master_name"`
	// Addresses are host:port of the sentinels (several, so that one down sentinel is not a
	// single point of failure).
	Addresses []string `yaml:"addresses"`
	// Password authenticates to the sentinels (requirepass of sentinel.conf); the master's
	// own password is engine.redis.password.
	Password string `yaml:"password"`
}

// Mode names the Redis deployment the configuration selects: standalone, cluster or
// sentinel.
func (r Redis) Mode() string {
	switch {
	case r.Cluster:
		return "cluster"
	case r.Sentinel != nil:
		return "sentinel"
	default:
		return "standalone"
	}
}

// validate checks that exactly one Redis mode is configured, with well-formed addresses.
func (r Redis) validate() error {
	switch r.Mode() {
	case "cluster":
		if r.Sentinel != nil {
			return errors.New("engine.redis: cluster and sentinel are exclusive: pick one")
		}
		if r.Address != "" {
			return errors.New("engine.redis: cluster mode takes addresses (seed nodes), not address")
		}
		if len(r.Addresses) == 0 {
			return errors.New("engine.redis.addresses: cluster mode needs at least one seed node host:port")
		}
		if r.DB != 0 {
			return errors.New("engine.redis.db: Redis Cluster has only db 0")
		}
		return checkAddrs("engine.redis.addresses", r.Addresses)
	case "sentinel":
		s := r.Sentinel
		if r.Address != "" || len(r.Addresses) > 0 {
			return errors.New("engine.redis: sentinel mode takes sentinel.addresses, not address or addresses")
		}
		if s.MasterName == "" {
			return errors.New("engine.redis.sentinel.master_name is required")
		}
		if len(s.Addresses) == 0 {
			return errors.New("engine.redis.sentinel.addresses: at least one sentinel host:port is required")
		}
		return checkAddrs("engine.redis.sentinel.addresses", s.Addresses)
	default:
		if len(r.Addresses) > 0 {
			return errors.New("engine.redis.addresses is for cluster mode: set cluster: true, or use address for a standalone Redis")
		}
		if r.Address == "" {
			return errors.New("engine.redis.address is required for the redis engine (or cluster: true with addresses, or sentinel)")
		}
		if checkAddrs("engine.redis.address", []string{r.Address}) != nil {
			return fmt.Errorf("engine.redis.address %q: want host:port", r.Address)
		}
		return nil
	}
}

func checkAddrs(key string, addrs []string) error {
	seen := make(map[string]bool, len(addrs))
	for i, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return fmt.Errorf("%s[%d] %q: want host:port: %w", key, i, a, err)
		}
		if n, err := strconv.Atoi(port); host == "" || err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%s[%d] %q: want host:port with a port in 1..65535", key, i, a)
		}
		if seen[a] {
			return fmt.Errorf("%s[%d] %q: listed twice", key, i, a)
		}
		seen[a] = true
	}
	return nil
}
