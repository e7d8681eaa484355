package admin

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// apiError is an admin API failure: its HTTP status, the contract code of the envelope, and
// what went wrong (every problem, for validation).
type apiError struct {
	status   int
	code     protocol.WsBizCode
	problems []string
	cause    error
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return e.cause.Error()
	}
	return fmt.Sprint(e.problems)
}

func (e *apiError) Unwrap() error { return e.cause }

func badRequest(problems ...string) error {
	return &apiError{status: http.StatusBadRequest, code: protocol.InvalidParams, problems: problems}
}

func notFound(id string) error {
	return &apiError{status: http.StatusNotFound, code: protocol.AppNotFound, problems: []string{fmt.Sprintf("no app %q", id)}}
}

func readOnly(id string) error {
	return &apiError{status: http.StatusConflict, code: protocol.Forbidden,
		problems: []string{fmt.Sprintf("app %q is defined in the config file (source: config) and is read-only here", id)}}
}

func conflict(msg string) error {
	return &apiError{status: http.StatusConflict, code: protocol.InvalidParams, problems: []string{msg}}
}

func internal(err error) error {
	return &apiError{status: http.StatusInternalServerError, code: protocol.Internal, problems: []string{"internal error"}, cause: err}
}

// asAPIError maps any error to an apiError: a protocol error keeps its code.
func asAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var re *protocol.RtWsError
	if errors.As(err, &re) {
		status := re.Code.Code()
		if status < 400 || status > 599 {
			status = http.StatusBadRequest
		}
		msg := re.Code.Message()
		if re.Cause != nil {
			msg = re.Cause.Error()
		}
		return &apiError{status: status, code: re.Code, problems: []string{msg}}
	}
	return &apiError{status: http.StatusInternalServerError, code: protocol.Internal, problems: []string{"internal error"}, cause: err}
}
