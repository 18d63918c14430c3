package importer

import (
	"time"

	validation "github.com/go-ozzo/ozzo-validation/v4"

	"github.com/healthexport/libs/config"
)

// Settings are how exports are received and converted.
type Settings struct {
	MaxBytes      int64         `env:"IMPORT_MAX_BYTES" envDefault:"4294967296" help:"Largest export POST /v1/imports accepts (a zip, or a bare export.xml), in bytes."`
	BodyTimeout   time.Duration `env:"IMPORT_BODY_TIMEOUT" envDefault:"1h" help:"Longest time an export's body may take to arrive, counted once its key is checked."`
	Workers       int           `env:"IMPORT_WORKERS" envDefault:"1" zero:"this process converts none: another edge does" help:"Received exports this process converts at once, each taking one core and under 256 MiB."`
	StoreMaxBytes int64         `env:"IMPORT_STORE_MAX_BYTES" envDefault:"10737418240" help:"Room in JetStream for received exports waiting to be converted, in bytes; past it POST /v1/imports answers 503."`
	Keep          time.Duration `env:"IMPORT_KEEP" envDefault:"168h" help:"How long a received export is kept when its conversion does not finish (a converted one is deleted at once)."`
	Dir           string        `env:"IMPORT_DIR" zero:"the system temp directory" help:"Where an export is copied while it is converted (an unlinked temporary file: zips are read at random)."`
}

// Validate checks the settings.
func (s Settings) Validate() error {
	return validation.ValidateStruct(&s,
		validation.Field(&s.MaxBytes, config.NonZero(), validation.Min(int64(1<<20))),
		validation.Field(&s.BodyTimeout, config.NonZero(), validation.Min(time.Second)),
		validation.Field(&s.Workers, validation.Min(0), validation.Max(64)),
		validation.Field(&s.StoreMaxBytes, config.NonZero(), validation.Min(s.MaxBytes).Error("must be at least IMPORT_MAX_BYTES")),
		validation.Field(&s.Keep, config.NonZero(), validation.Min(time.Hour)),
		validation.Field(&s.Dir, config.WritableDir()),
	)
}
