package script

import (
	"bytes"
	"errors"
	"fmt"

	lua "github.com/yuin/gopher-lua"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// maxReason bounds a script's reason: it goes to the wire and the logs.
const maxReason = 1024

// decodeOutput parses a Wasm plug-in's result: empty (or only white space) is nil, otherwise
// one JSON object with the contract's fields (unknown ones are ignored). The bytes come from
// untrusted code: anything else is ErrBadOutput, never a panic. out.Data aliases b.
func decodeOutput(b []byte, out *Output, maxData int) error {
	out.reset()
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	it, err := protocol.NewObjectIter(b)
	if err != nil {
		return fmt.Errorf("%w: not a JSON object", ErrBadOutput)
	}
	for {
		key, val, ok, err := it.Next()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadOutput, err)
		}
		if !ok {
			break
		}
		switch {
		case protocol.KeyIs(key, "allow"):
			allow, err := protocol.BoolValue(val)
			if err != nil {
				return fmt.Errorf("%w: allow: %v", ErrBadOutput, err)
			}
			out.Reject = !allow
		case protocol.KeyIs(key, "reason"):
			if out.Reason, err = stringField("reason", val, maxReason); err != nil {
				return err
			}
		case protocol.KeyIs(key, "user_id"):
			if out.UserID, err = stringField("user_id", val, 256); err != nil {
				return err
			}
		case protocol.KeyIs(key, "data"):
			if len(val) > maxData {
				return fmt.Errorf("%w: %w", ErrBadOutput, errTooLarge(maxData))
			}
			out.Data = val
		case protocol.KeyIs(key, "error"):
			if err := decodeRPCError(val, out); err != nil {
				return err
			}
		}
	}
	if !protocol.Valid(b) {
		return fmt.Errorf("%w: not one JSON object", ErrBadOutput)
	}
	return nil
}

func stringField(name string, val []byte, max int) (string, error) {
	s, err := protocol.StringValue(val)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrBadOutput, name, err)
	}
	if len(s) > max {
		return "", fmt.Errorf("%w: %s over %d bytes", ErrBadOutput, name, max)
	}
	return string(s), nil
}

func decodeRPCError(val []byte, out *Output) error {
	it, err := protocol.NewObjectIter(val)
	if err != nil {
		return fmt.Errorf("%w: error is not an object", ErrBadOutput)
	}
	for {
		key, v, ok, err := it.Next()
		if err != nil {
			return fmt.Errorf("%w: error: %v", ErrBadOutput, err)
		}
		if !ok {
			break
		}
		switch {
		case protocol.KeyIs(key, "code"):
			n, err := protocol.Uint64Value(v)
			if err != nil {
				return fmt.Errorf("%w: error.code: %v", ErrBadOutput, err)
			}
			if n > 1000 {
				n = 0
			}
			out.ErrCode = int(n)
		case protocol.KeyIs(key, "reason"):
			if out.Reason, err = stringField("error.reason", v, maxReason); err != nil {
				return err
			}
		}
	}
	return checkErrCode(out)
}

func checkErrCode(out *Output) error {
	switch out.ErrCode {
	case 400, 403, 429:
		return nil
	}
	return fmt.Errorf("%w: error.code %d: want 400, 403 or 429", ErrBadOutput, out.ErrCode)
}

// fromLua reads a Lua hook's return value: nil or a table with the contract's fields.
func (j *luaJSON) fromLua(v lua.LValue, out *Output, maxData int, scratch []byte) ([]byte, error) {
	out.reset()
	switch t := v.(type) {
	case *lua.LNilType:
		return scratch, nil
	case *lua.LTable:
		if a := t.RawGetString("allow"); a != lua.LNil {
			b, ok := a.(lua.LBool)
			if !ok {
				return scratch, fmt.Errorf("%w: allow is a %s, want a boolean", ErrBadOutput, a.Type())
			}
			out.Reject = !bool(b)
		}
		var err error
		if out.Reason, err = luaString(t, "reason", maxReason); err != nil {
			return scratch, err
		}
		if out.UserID, err = luaString(t, "user_id", 256); err != nil {
			return scratch, err
		}
		if d := t.RawGetString("data"); d != lua.LNil {
			if scratch, err = j.encode(scratch[:0], d, maxData); err != nil {
				return scratch, fmt.Errorf("%w: data: %w", ErrBadOutput, err)
			}
			out.Data = scratch
		}
		if e := t.RawGetString("error"); e != lua.LNil {
			et, ok := e.(*lua.LTable)
			if !ok {
				return scratch, fmt.Errorf("%w: error is a %s, want a table", ErrBadOutput, e.Type())
			}
			code, ok := et.RawGetString("code").(lua.LNumber)
			if !ok {
				return scratch, fmt.Errorf("%w: error.code is not a number", ErrBadOutput)
			}
			out.ErrCode = int(code)
			if float64(out.ErrCode) != float64(code) {
				out.ErrCode = 0
			}
			if out.Reason, err = luaString(et, "reason", maxReason); err != nil {
				return scratch, err
			}
			return scratch, checkErrCode(out)
		}
		return scratch, nil
	}
	return scratch, fmt.Errorf("%w: returned a %s, want a table or nil", ErrBadOutput, v.Type())
}

func luaString(t *lua.LTable, name string, max int) (string, error) {
	v := t.RawGetString(name)
	if v == lua.LNil {
		return "", nil
	}
	s, ok := v.(lua.LString)
	if !ok {
		return "", fmt.Errorf("%w: %s is a %s, want a string", ErrBadOutput, name, v.Type())
	}
	if len(s) > max {
		return "", fmt.Errorf("%w: %s over %d bytes", ErrBadOutput, name, max)
	}
	return string(s), nil
}

var errNoSuchHook = errors.New("the script does not define this hook")
