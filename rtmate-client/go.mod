module github.com/rtmate/rtmate/rtmate-client

go 1.26

require github.com/rtmate/rtmate/rt-common v0.0.0

replace github.com/rtmate/rtmate/rt-common => ../rt-common
