package main

import (
	"fmt"

	"github.com/healthexport/libs/users"
)

type usersCmd struct {
	Create usersCreateCmd `cmd:"" help:"Create a user (or find the existing one) and print its id."`
}

type usersCreateCmd struct {
	Email string `required:"" help:"The user's email address."`
}

func (c *usersCreateCmd) Run(e *env) error {
	pool, err := e.pool()
	if err != nil {
		return err
	}
	defer pool.Close()
	id, created, err := users.NewStore(pool).Ensure(e.ctx, c.Email)
	if err != nil {
		return err
	}
	if !created {
		e.log.Info("user already exists", "user_id", id.String())
	}
	_, err = fmt.Fprintln(e.stdout, id.String())
	return err
}
