package script

import "fmt"

func compileWasm(path string, _ []byte, _ int64, _ int) (program, error) {
	return nil, fmt.Errorf("%s: wasm TODO", path)
}
