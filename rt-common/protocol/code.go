package protocol

import (
	"errors"
	"fmt"
)

// WsBizCode names one row of the contract's error table. Several rows share a numeric code
// (400 is InvalidParams, AppNotFound and UnsupportedEvent), so the row, not the number, is the
// identity; Code and Message give the wire values.
type WsBizCode uint8

// The contract's error table, in its order. The zero value is Success.
const (
	Success WsBizCode = iota
	InvalidParams
	AppNotFound
	InvalidToken
	ExpiredToken
	SignatureInvalid
	AuthMismatch
	UnsupportedEvent
	Unauthenticated
	Forbidden
	MessageTooLarge
	RateLimited
	QuotaExceeded
	Internal

	numCodes
)

type codeRow struct {
	name    string
	code    int
	message string
}

// codeTable is the single source of truth for codes and messages; the JS SDK's copy is
// generated from it (see AllCodes).
var codeTable = [numCodes]codeRow{
	Success:          {"Success", 200, "success"},
	InvalidParams:    {"InvalidParams", 400, "参数错误"},
	AppNotFound:      {"AppNotFound", 400, "app_id 未找到"},
	InvalidToken:     {"InvalidToken", 401, "无效的 token"},
	ExpiredToken:     {"ExpiredToken", 401, "token 已过期"},
	SignatureInvalid: {"SignatureInvalid", 1005, "签名验证失败"},
	AuthMismatch:     {"AuthMismatch", 401, "认证失败（app_id 不匹配）"},
	UnsupportedEvent: {"UnsupportedEvent", 400, "不支持的事件类型"},
	Unauthenticated:  {"Unauthenticated", 401, "未认证"},
	Forbidden:        {"Forbidden", 403, "无权限"},
	MessageTooLarge:  {"MessageTooLarge", 413, "消息过大"},
	RateLimited:      {"RateLimited", 429, "请求过于频繁"},
	QuotaExceeded:    {"QuotaExceeded", 429, "超出配额"},
	Internal:         {"Internal", 500, "internal error"},
}

// Code is the numeric wire code.
func (c WsBizCode) Code() int { return c.row().code }

// Message is the exact wire message.
func (c WsBizCode) Message() string { return c.row().message }

// String is the contract's name for the row, e.g. "InvalidParams".
func (c WsBizCode) String() string { return c.row().name }

func (c WsBizCode) row() codeRow {
	if c >= numCodes {
		return codeTable[Internal]
	}
	return codeTable[c]
}

// CodeInfo is one exported row of the table, for generators and documentation.
type CodeInfo struct {
	Name    string `json:"name"`
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// AllCodes returns the whole table in contract order, Success first.
func AllCodes() []CodeInfo {
	out := make([]CodeInfo, 0, numCodes)
	for _, r := range codeTable {
		out = append(out, CodeInfo{Name: r.name, Code: r.code, Message: r.message})
	}
	return out
}

// RtWsError is an error that maps to one WsBizCode. Cause is for logs only: it never reaches
// the wire, where only the code's fixed message is sent.
type RtWsError struct {
	Code  WsBizCode
	Cause error
}

// NewError wraps cause (which may be nil) with a business code.
func NewError(code WsBizCode, cause error) *RtWsError { return &RtWsError{Code: code, Cause: cause} }

// Errorf is NewError with a formatted cause.
func Errorf(code WsBizCode, format string, args ...any) *RtWsError {
	return &RtWsError{Code: code, Cause: fmt.Errorf(format, args...)}
}

func (e *RtWsError) Error() string {
	if e.Cause == nil {
		return fmt.Sprintf("%s (%d %s)", e.Code, e.Code.Code(), e.Code.Message())
	}
	return fmt.Sprintf("%s (%d %s): %v", e.Code, e.Code.Code(), e.Code.Message(), e.Cause)
}

func (e *RtWsError) Unwrap() error { return e.Cause }

// CodeOf extracts the WsBizCode from err: Success for nil, Internal for an error that carries
// no code, so that unexpected failures never leak details to clients. A typed nil
// *RtWsError inside a non-nil error (a classic slip) is Internal too, not a panic.
func CodeOf(err error) WsBizCode {
	if err == nil {
		return Success
	}
	var re *RtWsError
	if errors.As(err, &re) && re != nil {
		return re.Code
	}
	return Internal
}
