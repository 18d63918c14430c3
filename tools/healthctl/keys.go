package main

import (
	"fmt"

	"github.com/healthexport/libs/apikey"
	"github.com/healthexport/libs/users"
)

type keysCmd struct {
	Create keysCreateCmd `cmd:"" help:"Create an API key and print it (it is shown only once)."`
}

type keysCreateCmd struct {
	Email string `required:"" help:"The owner's email address."`
	Name  string `help:"A name to recognise the key by (e.g. the phone)."`
}

func (c *keysCreateCmd) Run(e *env) error {
	pool, err := e.pool()
	if err != nil {
		return err
	}
	defer pool.Close()
	uid, err := users.NewStore(pool).ByEmail(e.ctx, c.Email)
	if err != nil {
		return err
	}
	token, key, err := apikey.NewStore(pool, apikey.DefaultParams()).Create(e.ctx, uid, c.Name)
	if err != nil {
		return err
	}
	e.log.Info("key created", "key_id", key.ID, "user_id", uid.String())
	_, err = fmt.Fprintln(e.stdout, token)
	return err
}
