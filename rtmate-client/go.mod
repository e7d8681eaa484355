module github.com/rtmate/rtmate/rtmate-client

go 1.26

require github.com/gobwas/ws v1.5.0

require github.com/gobwas/httphead v0.1.0 // indirect

replace github.com/rtmate/rtmate/rt-common => ../rt-common

require github.com/rtmate/rtmate/rt-common v0.0.0

replace github.com/rtmate/rtmate/rtmate-auth => ../rtmate-auth
