module github.com/rtmate/rtmate/rt-common

go 1.26
