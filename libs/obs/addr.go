package obs

import (
	"errors"
	"net"
	"strconv"
)

// ListenAddress is the validation rule of a host:port to listen on
// (EDGE_ADDR, the consumers' metrics addresses): a wrong one is refused at
// start, naming its variable, not when the listener fails.
type ListenAddress struct{}

// Validate implements validation.Rule; empty passes (Required says whether
// it may be empty).
func (ListenAddress) Validate(v any) error {
	s, _ := v.(string)
	if s == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("must be host:port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return errors.New("must be host:port with a port from 0 to 65535")
	}
	return nil
}
