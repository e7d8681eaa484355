module github.com/rtmate/rtmate/sdk/go-pdk

go 1.26.0
