package stream

import (
	"time"

	validation "github.com/go-ozzo/ozzo-validation/v4"

	"github.com/healthexport/libs/config"
)

// BatchConfig is how consumers cut and time their batches.
type BatchConfig struct {
	MaxRows      int           `env:"BATCH_MAX_ROWS" envDefault:"10000" help:"A consumer's batch is cut at this many rows,"`
	MaxMessages  int           `env:"BATCH_MAX_MESSAGES" envDefault:"500" help:"or messages (MaxAckPending is twice this),"`
	MaxBytes     int           `env:"BATCH_MAX_BYTES" envDefault:"16777216" help:"or bytes,"`
	MaxAge       time.Duration `env:"BATCH_MAX_AGE" envDefault:"250ms" help:"or when its oldest message is this old."`
	FlushTimeout time.Duration `env:"BATCH_FLUSH_TIMEOUT" envDefault:"10s" help:"Longest write of one batch; AckWait is 2 x (BATCH_MAX_AGE + this): how long a crashed consumer's messages wait before redelivery."`
}

// Validate checks the batch settings.
func (b BatchConfig) Validate() error {
	return validation.ValidateStruct(&b,
		validation.Field(&b.MaxRows, config.NonZero(), validation.Min(1)),
		validation.Field(&b.MaxMessages, config.NonZero(), validation.Min(1)),
		validation.Field(&b.MaxBytes, config.NonZero(), validation.Min(1)),
		validation.Field(&b.MaxAge, config.NonZero(), validation.Min(time.Millisecond)),
		validation.Field(&b.FlushTimeout, config.NonZero(), validation.Min(time.Second)),
	)
}

// Limits are the batch cut points.
func (b BatchConfig) Limits() Limits {
	return Limits{MaxMessages: b.MaxMessages, MaxRows: b.MaxRows, MaxBytes: b.MaxBytes, MaxAge: b.MaxAge}
}

// AckWait gives a message time for a full batch age plus the worst flush,
// twice over; longer flushes send InProgress (see KeepAlive).
func (b BatchConfig) AckWait() time.Duration { return 2 * (b.MaxAge + b.FlushTimeout) }

// MaxAckPending lets one batch be written while the next one fills.
func (b BatchConfig) MaxAckPending() int { return 2 * b.MaxMessages }
