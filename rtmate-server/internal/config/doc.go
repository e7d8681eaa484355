// Package config reads the server's YAML configuration (strictly: an unknown key is an
// error, so a typo never silently falls back to a default), applies RTMATE_* environment
// overrides, and resolves every limit to a concrete value with documented defaults.
//
// Entry points: Load, Dev, (*Config).Validate, Limits.
package config
