// Package admin serves the admin API (/admin/api/) and the admin console (/admin/): tenants
// created, changed and removed at run time, their keys rotated with overlap, their live
// figures and their hourly usage for billing. Apps it creates are kept in a store
// (internal/store) and merged with the config file's apps, which stay read-only; every change
// is applied to the running server at once, as a SIGHUP reload would.
//
// Entry points: Start, Admin.ReloadFile, Admin.Close. docs/admin.md describes the API.
package admin
