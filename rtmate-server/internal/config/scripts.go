package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Script is one sandboxed hook script of an app (apps[].scripts[]). Several scripts may take
// the same hook: they run in the listed order, the first rejection wins, publish rewrites
// chain. See docs/scripts.md.
type Script struct {
	// Name identifies the script in logs and metrics: 1-64 characters of [A-Za-z0-9_.-],
	// unique within the app. Required.
	Name string `yaml:"name"`
	// File is the script, .lua (Lua 5.1) or .wasm (an Extism plug-in), relative to the config
	// file's directory unless absolute. Required.
	File string `yaml:"file"`
	// Hooks are the hooks the script takes, any of connect, subscribe, publish, rpc. Required;
	// the script must define (Lua) or export (Wasm) on_<hook> for each.
	Hooks []string `yaml:"hooks"`
	// Timeout bounds one call. Default 5ms; at most 1s.
	Timeout time.Duration `yaml:"timeout"`
	// Memory caps a Wasm plug-in's linear memory (rounded up to 64 KiB pages) and bounds the
	// strings a Lua call may build with the string library. Default 16MiB; at most 1GiB.
	Memory ByteSize `yaml:"memory"`
	// FailOpen decides what a failure (timeout, trap, error, bad output) does: false (the
	// default) answers 500 internal error, true goes on as if the script allowed the request.
	FailOpen bool `yaml:"fail_open"`
}

// Script defaults and bounds.
const (
	DefaultScriptTimeout = 5 * time.Millisecond
	MaxScriptTimeout     = time.Second
	DefaultScriptMemory  = ByteSize(16 << 20)
	MaxScriptMemory      = ByteSize(1 << 30)
)

// ScriptHooks are the hook names scripts may take, in the order requests meet them.
var ScriptHooks = []string{"connect", "subscribe", "publish", "rpc"}

// ByteSize is a size in bytes; YAML takes a plain integer or a number with a unit: B, KB, MB,
// GB (powers of 1000) or KiB, MiB, GiB (powers of 1024), e.g. 16MiB.
type ByteSize int64

var byteSizePattern = regexp.MustCompile(`^\s*([0-9]+)\s*([A-Za-z]*)\s*$`)

var byteUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1000, "mb": 1000 * 1000, "gb": 1000 * 1000 * 1000,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
}

// ParseByteSize parses "16MiB", "512KB", "1048576".
func ParseByteSize(s string) (ByteSize, error) {
	m := byteSizePattern.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("size %q: want a number with an optional unit (B, KB, MB, GB, KiB, MiB, GiB)", s)
	}
	unit, ok := byteUnits[strings.ToLower(m[2])]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q (want B, KB, MB, GB, KiB, MiB, GiB)", s, m[2])
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n > (1<<62)/unit {
		return 0, fmt.Errorf("size %q: out of range", s)
	}
	return ByteSize(n * unit), nil
}

// UnmarshalYAML accepts an integer or a string with a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a size must be a scalar such as 16MiB", n.Line)
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

var scriptNamePattern = regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,64}$`)

// setDefaults fills Timeout and Memory.
func (s *Script) setDefaults() {
	if s.Timeout == 0 {
		s.Timeout = DefaultScriptTimeout
	}
	if s.Memory == 0 {
		s.Memory = DefaultScriptMemory
	}
}

// Language is "lua" or "wasm", from the file's extension.
func (s *Script) Language() string {
	switch strings.ToLower(filepath.Ext(s.File)) {
	case ".lua":
		return "lua"
	case ".wasm":
		return "wasm"
	}
	return ""
}

// Path is File resolved against dir, the config file's directory.
func (s *Script) Path(dir string) string {
	if filepath.IsAbs(s.File) || dir == "" {
		return s.File
	}
	return filepath.Join(dir, s.File)
}

func (s *Script) validate() error {
	if !scriptNamePattern.MatchString(s.Name) {
		return fmt.Errorf("name %q: want 1-64 characters of [A-Za-z0-9_.-]", s.Name)
	}
	if s.File == "" {
		return errors.New("file is required")
	}
	if s.Language() == "" {
		return fmt.Errorf("file %q: want a .lua or .wasm file", s.File)
	}
	if len(s.Hooks) == 0 {
		return fmt.Errorf("hooks: want at least one of %s", strings.Join(ScriptHooks, ", "))
	}
	for i, h := range s.Hooks {
		known := false
		for _, k := range ScriptHooks {
			known = known || h == k
		}
		if !known {
			return fmt.Errorf("hooks[%d] %q: want one of %s", i, h, strings.Join(ScriptHooks, ", "))
		}
		for _, prev := range s.Hooks[:i] {
			if prev == h {
				return fmt.Errorf("hooks[%d] %q: listed twice", i, h)
			}
		}
	}
	if s.Timeout < 0 || s.Timeout > MaxScriptTimeout {
		return fmt.Errorf("timeout %v: want more than 0 and at most %v", s.Timeout, MaxScriptTimeout)
	}
	if s.Memory < 64<<10 || s.Memory > MaxScriptMemory {
		return fmt.Errorf("memory %d: want 64KiB to 1GiB", s.Memory)
	}
	return nil
}

// validateScripts checks an app's scripts and fills their defaults.
func validateScripts(scripts []Script) error {
	for i := range scripts {
		s := &scripts[i]
		s.setDefaults()
		if err := s.validate(); err != nil {
			return fmt.Errorf("scripts[%d]: %w", i, err)
		}
		for _, prev := range scripts[:i] {
			if prev.Name == s.Name {
				return fmt.Errorf("scripts[%d].name %q: duplicate", i, s.Name)
			}
		}
	}
	return nil
}
