package protocol_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// contractCodes is the error table of shared/protocol-v1.md, typed in again by hand (not
// derived from the package) so that a slip in either copy fails here.
var contractCodes = []struct {
	c       protocol.WsBizCode
	name    string
	code    int
	message string
}{
	{protocol.Success, "Success", 200, "success"},
	{protocol.InvalidParams, "InvalidParams", 400, "参数错误"},
	{protocol.AppNotFound, "AppNotFound", 400, "app_id 未找到"},
	{protocol.InvalidToken, "InvalidToken", 401, "无效的 token"},
	{protocol.ExpiredToken, "ExpiredToken", 401, "token 已过期"},
	{protocol.SignatureInvalid, "SignatureInvalid", 1005, "签名验证失败"},
	{protocol.AuthMismatch, "AuthMismatch", 401, "认证失败（app_id 不匹配）"},
	{protocol.UnsupportedEvent, "UnsupportedEvent", 400, "不支持的事件类型"},
	{protocol.Unauthenticated, "Unauthenticated", 401, "未认证"},
	{protocol.Forbidden, "Forbidden", 403, "无权限"},
	{protocol.MessageTooLarge, "MessageTooLarge", 413, "消息过大"},
	{protocol.RateLimited, "RateLimited", 429, "请求过于频繁"},
	{protocol.QuotaExceeded, "QuotaExceeded", 429, "超出配额"},
	{protocol.Internal, "Internal", 500, "internal error"},
}

func TestCodeTable(t *testing.T) {
	for _, tc := range contractCodes {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.Code(); got != tc.code {
				t.Errorf("Code() = %d, want %d", got, tc.code)
			}
			if got := tc.c.Message(); got != tc.message {
				t.Errorf("Message() = %q (% x), want %q (% x)", got, got, tc.message, tc.message)
			}
			if got := tc.c.String(); got != tc.name {
				t.Errorf("String() = %q, want %q", got, tc.name)
			}
		})
	}
}

// The full-width parentheses are easy to lose to an editor or a "helpful" normalizer.
func TestAuthMismatchFullWidthParens(t *testing.T) {
	want := []byte{
		0xe8, 0xae, 0xa4, 0xe8, 0xaf, 0x81, 0xe5, 0xa4, 0xb1, 0xe8, 0xb4, 0xa5, // 认证失败
		0xef, 0xbc, 0x88, // （ U+FF08
		'a', 'p', 'p', '_', 'i', 'd', ' ',
		0xe4, 0xb8, 0x8d, 0xe5, 0x8c, 0xb9, 0xe9, 0x85, 0x8d, // 不匹配
		0xef, 0xbc, 0x89, // ） U+FF09
	}
	if got := protocol.AuthMismatch.Message(); got != string(want) {
		t.Fatalf("AuthMismatch.Message() bytes = % x, want % x", got, want)
	}
	if strings.ContainsAny(protocol.AuthMismatch.Message(), "()") {
		t.Fatal("AuthMismatch message has ASCII parentheses")
	}
}

func TestAllCodes(t *testing.T) {
	all := protocol.AllCodes()
	if len(all) != len(contractCodes) {
		t.Fatalf("AllCodes() has %d rows, want %d", len(all), len(contractCodes))
	}
	for i, tc := range contractCodes {
		t.Run(tc.name, func(t *testing.T) {
			got := all[i]
			if got.Name != tc.name || got.Code != tc.code || got.Message != tc.message {
				t.Errorf("AllCodes()[%d] = %+v, want {%s %d %s}", i, got, tc.name, tc.code, tc.message)
			}
		})
	}
	// The slice is a copy: callers may not corrupt the table.
	all[1].Message = "tampered"
	if protocol.InvalidParams.Message() != "参数错误" {
		t.Fatal("AllCodes() aliases the code table")
	}
}

func TestCodeOutOfRange(t *testing.T) {
	c := protocol.WsBizCode(200)
	if c.Code() != 500 || c.Message() != "internal error" || c.String() != "Internal" {
		t.Fatalf("out-of-range code = %d %q %q, want Internal's row", c.Code(), c.Message(), c.String())
	}
}

func TestCodeOf(t *testing.T) {
	base := protocol.NewError(protocol.Forbidden, io.EOF)
	tests := []struct {
		name string
		err  error
		want protocol.WsBizCode
	}{
		{"nil", nil, protocol.Success},
		{"RtWsError", protocol.NewError(protocol.AppNotFound, nil), protocol.AppNotFound},
		{"Errorf", protocol.Errorf(protocol.RateLimited, "conn %d", 7), protocol.RateLimited},
		{"wrapped once", fmt.Errorf("auth: %w", base), protocol.Forbidden},
		{"wrapped twice", fmt.Errorf("dispatch: %w", fmt.Errorf("auth: %w", base)), protocol.Forbidden},
		{"joined", errors.Join(io.ErrUnexpectedEOF, base), protocol.Forbidden},
		{"plain error", errors.New("boom"), protocol.Internal},
		{"wrapped plain error", fmt.Errorf("x: %w", io.EOF), protocol.Internal},
		{"typed nil *RtWsError in interface", error((*protocol.RtWsError)(nil)), protocol.Internal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("CodeOf panicked: %v", r)
				}
			}()
			if got := protocol.CodeOf(tc.err); got != tc.want {
				t.Errorf("CodeOf() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRtWsErrorUnwrap(t *testing.T) {
	err := fmt.Errorf("handler: %w", protocol.NewError(protocol.ExpiredToken, io.EOF))
	var re *protocol.RtWsError
	if !errors.As(err, &re) {
		t.Fatal("errors.As did not find the *RtWsError")
	}
	if re.Code != protocol.ExpiredToken {
		t.Errorf("Code = %v, want ExpiredToken", re.Code)
	}
	if !errors.Is(err, io.EOF) {
		t.Error("errors.Is(err, io.EOF) = false: Unwrap does not expose the cause")
	}
	if protocol.NewError(protocol.Internal, nil).Unwrap() != nil {
		t.Error("Unwrap of a cause-less error is not nil")
	}
}

func TestRtWsErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"no cause", protocol.NewError(protocol.Unauthenticated, nil), "Unauthenticated (401 未认证)"},
		{"cause", protocol.NewError(protocol.InvalidParams, errors.New("bad channel")), "InvalidParams (400 参数错误): bad channel"},
		{"Errorf", protocol.Errorf(protocol.AuthMismatch, "token %s, payload %s", "a", "b"), "AuthMismatch (401 认证失败（app_id 不匹配）): token a, payload b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}
