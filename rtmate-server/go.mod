module github.com/rtmate/rtmate/rtmate-server

go 1.26.0

require (
	github.com/rtmate/rtmate/rt-common v0.0.0
	github.com/rtmate/rtmate/rtmate-auth v0.0.0
)

require (
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/gobwas/ws v1.5.0 // indirect
	go.uber.org/multierr v1.10.0 // indirect
	go.uber.org/zap v1.28.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

replace (
	github.com/rtmate/rtmate/rt-common => ../rt-common
	github.com/rtmate/rtmate/rtmate-auth => ../rtmate-auth
)
