package bench

import (
	"os"
	"testing"
)

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{"normal", "Name:\trtmate-server\nVmPeak:\t  9000 kB\nVmRSS:\t   12345 kB\nThreads:\t5\n", 12345, false},
		{"missing", "Name:\tx\n", 0, true},
		{"bad unit", "VmRSS:\t12 MB\n", 0, true},
		{"bad number", "VmRSS:\tx kB\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmRSS([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("got %d, %v", got, err)
			}
		})
	}
}

func TestParseCPUTicks(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{"normal", "4321 (rtmate-server) S 1 4321 4321 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 9 0 100 1000000 3000", 325, false},
		{"name with spaces and parens", "7 (a b) (c)) R 1 7 7 0 -1 0 0 0 0 0 11 22 0 0 20 0 1 0 1 1 1", 33, false},
		{"no name", "7 a R 1", 0, true},
		{"short", "7 (x) R 1 2 3", 0, true},
		{"bad utime", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 u 22 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCPUTicks([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("got %d, %v", got, err)
			}
		})
	}
}

func TestSampleSelf(t *testing.T) {
	s, err := sampleProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSSKB <= 0 || s.CPUSeconds < 0 {
		t.Fatalf("sample %+v", s)
	}
}

func FuzzParseProc(f *testing.F) {
	f.Add([]byte("1 (x) S 1 1 1 0 -1 0 0 0 0 0 5 6 0"))
	f.Add([]byte("VmRSS:\t 5 kB\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		_, _ = parseCPUTicks(in)
		_, _ = parseVmRSS(in)
	})
}
