package config

import "time"

// Drain times taking a node out of service (POST /admin/drain or SIGUSR1).
type Drain struct {
	// Grace is how long /readyz answers 503 before the node stops accepting connections and
	// starts closing them, so that load balancers stop sending it traffic first. Default 5s.
	Grace time.Duration `yaml:"grace"`
	// Timeout bounds the whole drain: when it passes, the node shuts down whatever clients
	// are left. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
}
