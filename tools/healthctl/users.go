package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/healthexport/libs/termtext"
	"github.com/healthexport/libs/users"
)

type usersCmd struct {
	Create usersCreateCmd `cmd:"" help:"Create a user (or find the existing one) and print its id."`
	List   usersListCmd   `cmd:"" help:"List users."`
	Delete usersDeleteCmd `cmd:"" help:"Delete a user with all its data, uploads and keys (asks for --yes)."`
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
	id, created, err := users.NewStore(pool).Ensure(e.Ctx, c.Email)
	if err != nil {
		return err
	}
	if !created {
		e.Log.Info("user already exists", "user_id", id.String())
	}
	_, err = fmt.Fprintln(e.Stdout, id.String())
	return err
}

type usersListCmd struct{}

func (usersListCmd) Run(e *env) error {
	pool, err := e.pool()
	if err != nil {
		return err
	}
	defer pool.Close()
	list, err := users.NewStore(pool).List(e.Ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tEMAIL\tCREATED\tKEYS")
	for _, u := range list {
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\n", u.ID, termtext.Escape(u.Email), u.CreatedAt.UTC().Format("2006-01-02 15:04:05Z"), u.ActiveKeys)
	}
	return w.Flush()
}
