package engine

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// sentinelRefresh is how often the sentinel client reconciles its master with the
// sentinels, besides reacting to +switch-master (rueidis recommends it: a missed event
// would otherwise bind the client to a demoted master).
const sentinelRefresh = 2 * time.Second

// mode names the deployment: standalone, cluster or sentinel.
func (o RedisOptions) mode() string {
	switch {
	case o.Cluster:
		return "cluster"
	case o.Sentinel != nil:
		return "sentinel"
	default:
		return "standalone"
	}
}

// where describes the configured addresses for logs and errors.
func (o RedisOptions) where() string {
	switch {
	case o.Cluster:
		return "cluster " + strings.Join(o.Addresses, ",")
	case o.Sentinel != nil:
		return "sentinel master " + o.Sentinel.MasterName + " via " + strings.Join(o.Sentinel.Addresses, ",")
	default:
		return o.Address
	}
}

// clientOption is the rueidis configuration of the engine's shared client for each mode.
func (o RedisOptions) clientOption() (rueidis.ClientOption, error) {
	copt := rueidis.ClientOption{
		Password:     o.Password,
		ClientName:   "rtmate-" + o.NodeID,
		DisableCache: true, // no client-side caching: nothing here reads the same key twice
		Dialer:       o.dialer(),
	}
	var tlsHost string
	switch {
	case o.Cluster:
		copt.InitAddress = o.Addresses
		tlsHost = o.Addresses[0]
	case o.Sentinel != nil:
		copt.InitAddress = o.Sentinel.Addresses
		copt.SelectDB = o.DB
		copt.Sentinel = rueidis.SentinelOption{
			MasterSet:               o.Sentinel.MasterName,
			Password:                o.Sentinel.Password,
			ClientName:              "rtmate-" + o.NodeID,
			Dialer:                  o.dialer(),
			TopologyRefreshInterval: sentinelRefresh,
		}
		tlsHost = o.Sentinel.Addresses[0]
	default:
		copt.InitAddress = []string{o.Address}
		copt.SelectDB = o.DB
		copt.ForceSingleClient = true
		tlsHost = o.Address
	}
	if o.TLS {
		host, _, err := net.SplitHostPort(tlsHost)
		if err != nil {
			return copt, fmt.Errorf("redis engine: address %q: %w", tlsHost, err)
		}
		copt.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		if o.Sentinel != nil {
			copt.Sentinel.TLSConfig = copt.TLSConfig
		}
	}
	return copt, nil
}

// nodeOption configures a single-node client to one cluster master, for that shard's
// pub/sub connection.
func (o RedisOptions) nodeOption(addr string) (rueidis.ClientOption, error) {
	copt := rueidis.ClientOption{
		InitAddress:       []string{addr},
		Password:          o.Password,
		ClientName:        "rtmate-" + o.NodeID,
		DisableCache:      true,
		ForceSingleClient: true,
		Dialer:            o.dialer(),
	}
	if o.TLS {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return copt, fmt.Errorf("redis engine: node address %q: %w", addr, err)
		}
		copt.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	return copt, nil
}

func (o RedisOptions) dialer() net.Dialer {
	return net.Dialer{Timeout: min(o.Timeout, 3*time.Second), KeepAlive: 15 * time.Second}
}
