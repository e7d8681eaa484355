module github.com/rtmate/rtmate/rtmate-client

go 1.26

require (
	github.com/HdrHistogram/hdrhistogram-go v1.4.0
	github.com/gobwas/ws v1.5.0
	github.com/rtmate/rtmate/rt-common v0.0.0
	github.com/rtmate/rtmate/rtmate-auth v0.0.0
	golang.org/x/sys v0.46.0
)

require (
	github.com/decred/dcrd/dcrec/secp256k1/v4 v4.4.1 // indirect
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/goccy/go-json v0.10.6 // indirect
	github.com/lestrrat-go/blackmagic v1.0.4 // indirect
	github.com/lestrrat-go/httpcc v1.0.1 // indirect
	github.com/lestrrat-go/httprc v1.0.6 // indirect
	github.com/lestrrat-go/iter v1.0.2 // indirect
	github.com/lestrrat-go/jwx/v2 v2.1.7 // indirect
	github.com/lestrrat-go/option v1.0.1 // indirect
	github.com/segmentio/asm v1.2.1 // indirect
	golang.org/x/crypto v0.53.0 // indirect
)

replace (
	github.com/rtmate/rtmate/rt-common => ../rt-common
	github.com/rtmate/rtmate/rtmate-auth => ../rtmate-auth
)
