// Package demoidp is an OpenID provider for tests and for make run: the
// example provider of github.com/zitadel/oidc (a maintained provider
// library), with its login form, in-memory users and a "groups" claim,
// as a university's provider would send. It is never part of a service
// image.
package demoidp

import (
	"context"
	"net/http"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// User is an account at the provider.
type User struct {
	ID, Username, Password, Email string
	Groups                        []string
}

// Client is an application registered with the provider.
type Client struct {
	ID, Secret, RedirectURI string
}

// LoginPath is where the provider's login form posts.
const LoginPath = "/login/username"

// TokenPath and UserInfoPath are the provider's endpoints, as its
// discovery document names them.
const (
	TokenPath    = "/oauth/token"
	UserInfoPath = "/userinfo"
)

// New is the provider's handler for the issuer URL it is served at.
func New(issuer string, users []User, clients []Client) http.Handler {
	store := userStore{}
	groups := map[string][]string{}
	for _, u := range users {
		store[u.ID] = &storage.User{ID: u.ID, Username: u.Username, Password: u.Password, FirstName: u.Username,
			Email: u.Email, EmailVerified: u.Email != "", PreferredLanguage: language.English}
		groups[u.ID] = u.Groups
	}
	cs := map[string]*storage.Client{}
	for _, c := range clients {
		cs[c.ID] = storage.WebClient(c.ID, c.Secret, c.RedirectURI)
	}
	return exampleop.SetupServer(issuer, groupsStorage{storage.NewStorageWithClients(store, cs), groups}, nil, false)
}

type userStore map[string]*storage.User

func (u userStore) GetUserByID(id string) *storage.User { return u[id] }

func (u userStore) GetUserByUsername(name string) *storage.User {
	for _, x := range u {
		if x.Username == name {
			return x
		}
	}
	return nil
}

func (u userStore) ExampleClientID() string { return "service" }

// groupsStorage adds the "groups" claim to ID tokens and UserInfo answers.
type groupsStorage struct {
	*storage.Storage
	groups map[string][]string
}

func (s groupsStorage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, ui, req, scopes); err != nil {
		return err
	}
	if g := s.groups[req.GetSubject()]; len(g) > 0 {
		ui.AppendClaims("groups", g)
	}
	return nil
}

func (s groupsStorage) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := s.Storage.SetUserinfoFromToken(ctx, ui, tokenID, subject, origin); err != nil {
		return err
	}
	if g := s.groups[ui.Subject]; len(g) > 0 {
		ui.AppendClaims("groups", g)
	}
	return nil
}
