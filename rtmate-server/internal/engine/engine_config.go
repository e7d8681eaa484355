package engine

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
)

// FromConfig builds the engine the configuration selects: memory (the default) or redis.
// nodeID names the node in Redis presence entries; "" picks a random one per process, which
// is what a restarted node needs (see RedisOptions.NodeID).
func FromConfig(cfg config.Engine, nodeID string, log *zap.Logger) (Engine, error) {
	switch cfg.Type {
	case "", "memory":
		return NewMemory(), nil
	case "redis":
		var sentinel *SentinelOptions
		if s := cfg.Redis.Sentinel; s != nil {
			sentinel = &SentinelOptions{MasterName: s.MasterName, Addresses: s.Addresses, Password: s.Password}
		}
		r, err := NewRedis(RedisOptions{
			Address:     cfg.Redis.Address,
			Cluster:     cfg.Redis.Cluster,
			Addresses:   cfg.Redis.Addresses,
			Sentinel:    sentinel,
			Password:    cfg.Redis.Password,
			DB:          cfg.Redis.DB,
			TLS:         cfg.Redis.TLS,
			KeyPrefix:   cfg.Redis.KeyPrefix,
			PresenceTTL: cfg.Redis.PresenceTTL,
			NodeID:      nodeID,
		}, log)
		if err != nil {
			return nil, err
		}
		return r, nil
	default:
		return nil, fmt.Errorf("engine: unknown type %q: want memory or redis", cfg.Type)
	}
}
