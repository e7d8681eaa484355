package config

import "time"

// Admin configures the operator endpoints under /admin/.
type Admin struct {
	// Token is the bearer token of the /admin/ endpoints (Authorization: Bearer <token>);
	// RTMATE_ADMIN_TOKEN overrides it. Empty disables them (404).
	Token string `yaml:"token"`
}

// Drain times taking a node out of service (POST /admin/drain or SIGUSR1).
type Drain struct {
	// Grace is how long /readyz answers 503 before the node stops accepting connections and
	// starts closing them, so that load balancers stop sending it traffic first. Default 5s.
	Grace time.Duration `yaml:"grace"`
	// Timeout bounds the whole drain: when it passes, the node shuts down whatever clients
	// are left. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
}
