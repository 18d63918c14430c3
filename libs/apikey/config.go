package apikey

import (
	validation "github.com/go-ozzo/ozzo-validation/v4"

	"github.com/healthexport/libs/config"
)

// Limits bounds the keys a user may hold, so that a key able to make keys
// cannot multiply the per-key rate limit; the edge (POST /v1/keys) and
// healthctl keys create both keep to it.
type Limits struct {
	MaxPerUser int `env:"KEYS_MAX_PER_USER" envDefault:"20" help:"Unrevoked API keys a user may hold; creating one more is refused (409 too_many_keys)."`
}

// Validate checks the cap.
func (c Limits) Validate() error {
	return validation.ValidateStruct(&c, validation.Field(&c.MaxPerUser, config.NonZero(), validation.Min(1)))
}
