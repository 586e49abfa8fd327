package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/password"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/vault"
)

const accountUsage = `用法 Usage:
  wxfleet account create --email E --role owner|operator|viewer|merchant [--tenant-id N] [--name NAME] [--password-stdin]
  wxfleet account list
  wxfleet account reset-password --email E [--password-stdin]
  wxfleet account disable|enable --email E
  (each also takes --data DIR / --database DSN)

Without --password-stdin a strong password is generated and printed once.
The password is never read from the command line (other users see it in ps).
`

// runAccount manages console accounts straight in the database: the first
// owner of a fresh installation, and a way back in when nobody can sign in.
func runAccount(ctx context.Context, args []string, stdin io.Reader, e *env, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, accountUsage)
		return errUsage
	}
	sub, rest := args[0], args[1:]
	c := newCmdSettings("account", "account "+sub, e, stderr)
	if err := c.fs.Parse(rest); err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("account %s: unexpected argument %q", sub, c.fs.Arg(0))
	}
	vals := map[string]*string{}
	for _, n := range []string{"data", "database", "email", "role", "tenant-id", "name"} {
		v, err := c.get(n)
		if err != nil {
			return err
		}
		vals[n] = &v
	}
	email, role, name := vals["email"], vals["role"], vals["name"]
	database := *vals["database"]
	if database == "" {
		database = filepath.Join(*vals["data"], "wxfleet.db")
	}
	var tenantID int64
	if v := *vals["tenant-id"]; v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("account: --tenant-id %q: a tenant id, 1 or more", v)
		}
		tenantID = n
	}
	tenant := &tenantID
	fromStdin := c.bool("password-stdin")
	logger, err := newLogger(e, stderr)
	if err != nil {
		return err
	}
	// Accounts hold no sealed value: no master key is read or made.
	v, err := vault.New(vault.GenerateKey())
	if err != nil {
		return err
	}
	if !strings.Contains(database, "://") {
		if err := os.MkdirAll(filepath.Dir(database), 0o700); err != nil {
			return err
		}
	}
	st, err := store.Open(ctx, database, v, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	now := time.Now()
	audit := func(action string) *wxfleet.AuditEntry {
		return &wxfleet.AuditEntry{At: now, ActorName: cliActor(), Via: "cli", Action: action}
	}
	newPassword := func(forEmail string) (string, bool, error) {
		if !fromStdin {
			return generatePassword(), true, nil
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", false, err
		}
		pw := strings.TrimRight(line, "\r\n")
		return pw, false, password.Check(pw, forEmail)
	}
	switch sub {
	case "create":
		if *email == "" || *role == "" {
			return errors.New("account create: --email and --role are required")
		}
		pw, generated, err := newPassword(*email)
		if err != nil {
			return err
		}
		hash, err := password.Hash(pw)
		if err != nil {
			return err
		}
		a := &wxfleet.Account{Email: *email, Name: *name, Role: wxfleet.Role(*role), TenantID: *tenant, PasswordHash: hash, CreatedAt: now}
		e := audit("account.create")
		e.TenantID, e.Detail = *tenant, fmt.Sprintf(`{"role":%q}`, *role)
		if err := st.CreateAccount(ctx, a, e); err != nil {
			return errors.New(wxfleet.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "account %d created: %s (%s)\n", a.ID, a.Email, a.Role)
		if generated {
			fmt.Fprintf(stdout, "password (shown once): %s\n", pw)
		}
		return nil
	case "list":
		list, err := st.ListAccounts(ctx, wxfleet.Scope{}, 0, 1000)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tROLE\tTENANT\tSTATE\tNAME")
		for _, a := range list {
			state := "enabled"
			if a.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\n", a.ID, a.Email, a.Role, a.TenantID, state, a.Name)
		}
		return tw.Flush()
	case "reset-password", "disable", "enable":
		if *email == "" {
			return fmt.Errorf("account %s: --email is required", sub)
		}
		a, err := st.AccountByEmail(ctx, *email)
		if err != nil {
			return errors.New(wxfleet.ErrorMessage(err))
		}
		var change store.AccountChange
		var pw string
		generated := false
		e := audit("account.update")
		e.TenantID = a.TenantID
		switch sub {
		case "reset-password":
			if pw, generated, err = newPassword(a.Email); err != nil {
				return err
			}
			hash, err := password.Hash(pw)
			if err != nil {
				return err
			}
			change.PasswordHash, e.Detail = &hash, `{"password":"reset"}`
		default:
			off := sub == "disable"
			change.Disabled, e.Detail = &off, fmt.Sprintf(`{"disabled":%v}`, off)
		}
		if _, err := st.UpdateAccount(ctx, a.ID, change, now, e); err != nil {
			return errors.New(wxfleet.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "account %d (%s): %s done; its console sessions ended\n", a.ID, a.Email, sub)
		if generated {
			fmt.Fprintf(stdout, "password (shown once): %s\n", pw)
		}
		return nil
	default:
		fmt.Fprintf(stderr, "unknown account command %q\n\n%s", sub, accountUsage)
		return errUsage
	}
}

// cliActor names who ran the command in the audit log.
func cliActor() string {
	who := "unknown"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	host, _ := os.Hostname()
	return "cli " + who + "@" + host
}

// generatePassword is 20 characters of base32: 100 bits.
func generatePassword() string { return rand.Text()[:20] }
