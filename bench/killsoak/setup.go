package main

import (
	"context"
	"fmt"
	"net/url"
)

// cast is the users and rooms of a run.
type cast struct {
	ownerToken   string // created the rooms; reads their history at the end
	rooms        []string
	writerTokens []string
	readerTokens []string
}

// setUp registers the users and puts them all in every room.
func setUp(ctx context.Context, c *client, rooms, writers, readers int) (*cast, error) {
	register := func(name string) (string, error) {
		r, err := c.must(ctx, "POST", "/_matrix/client/v3/register", "", map[string]any{
			"username": name, "password": "pw-" + name, "auth": map[string]any{"type": "m.login.dummy"},
		})
		if err != nil {
			return "", fmt.Errorf("registering %s (the database must be empty): %w", name, err)
		}
		return r.str("access_token"), nil
	}
	cs := &cast{}
	var err error
	if cs.ownerToken, err = register("soakowner"); err != nil {
		return nil, err
	}
	for i := range rooms {
		r, err := c.must(ctx, "POST", "/_matrix/client/v3/createRoom", cs.ownerToken, map[string]any{
			"preset": "public_chat", "name": fmt.Sprintf("killsoak %d", i),
		})
		if err != nil {
			return nil, err
		}
		cs.rooms = append(cs.rooms, r.str("room_id"))
	}
	joinAll := func(name string) (string, error) {
		token, err := register(name)
		if err != nil {
			return "", err
		}
		for _, room := range cs.rooms {
			if _, err := c.must(ctx, "POST", "/_matrix/client/v3/join/"+url.PathEscape(room), token, map[string]any{}); err != nil {
				return "", err
			}
		}
		return token, nil
	}
	for i := range writers {
		token, err := joinAll(fmt.Sprintf("soakwriter%d", i))
		if err != nil {
			return nil, err
		}
		cs.writerTokens = append(cs.writerTokens, token)
	}
	for i := range readers {
		token, err := joinAll(fmt.Sprintf("soakreader%d", i))
		if err != nil {
			return nil, err
		}
		cs.readerTokens = append(cs.readerTokens, token)
	}
	return cs, nil
}
