package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/tidemarkmq/tidemark/pkg/auth"
	"golang.org/x/term"
)

// options is the parsed command line.
type options struct {
	create, batch, del, upgrade bool
	alg                         auth.Algorithm
	iterations                  int
	file, user, password        string
	hasPassword                 bool
}

// errUsage: the command line is wrong; the usage text follows.
var errUsage = errors.New("usage")

const usage = `mqtt-passwd creates and updates password files in mosquitto_passwd's format.

Usage: mqtt-passwd [-H sha512-pbkdf2 | -H argon2id] [--argon2] [-I iterations] [-c | -D] passwordfile username
       mqtt-passwd [-H sha512-pbkdf2 | -H argon2id] [--argon2] [-I iterations] [-c] -b passwordfile username password
       mqtt-passwd -U passwordfile
 -b : batch mode: the password is the last argument.
 -c : create a new password file, overwriting an existing one ("-" writes to standard output).
 -D : delete the user.
 -H : hashing algorithm: sha512-pbkdf2 (the default, what Mosquitto 2.0 writes and reads)
      or argon2id (what Mosquitto 2.1 writes; Mosquitto 2.0 cannot read it).
 --argon2 : the same as -H argon2id.
 -I : PBKDF2 iterations (default 1000).
 -U : hash the plain-text passwords of a file in place (hashed lines are kept).
`

func parseArgs(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("mqtt-passwd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&o.create, "c", false, "")
	fs.BoolVar(&o.batch, "b", false, "")
	fs.BoolVar(&o.del, "D", false, "")
	fs.BoolVar(&o.upgrade, "U", false, "")
	argon := fs.Bool("argon2", false, "")
	hash := fs.String("H", "sha512-pbkdf2", "")
	fs.IntVar(&o.iterations, "I", 0, "")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	switch {
	case *argon || *hash == "argon2id":
		o.alg = auth.Argon2id
	case *hash == "sha512-pbkdf2":
		o.alg = auth.SHA512PBKDF2
	default:
		return nil, fmt.Errorf("unknown hash type %q (sha512-pbkdf2 or argon2id)", *hash)
	}
	if o.iterations < 0 {
		return nil, errors.New("number of iterations must be > 0")
	}
	switch {
	case o.create && o.del:
		return nil, errors.New("-c and -D cannot be used together")
	case o.create && o.upgrade:
		return nil, errors.New("-c and -U cannot be used together")
	case o.del && o.upgrade:
		return nil, errors.New("-D and -U cannot be used together")
	case o.del && o.batch:
		return nil, errors.New("-b and -D cannot be used together")
	}
	rest := fs.Args()
	want := 2
	switch {
	case o.upgrade:
		want = 1
	case o.batch:
		want = 3
	}
	if len(rest) != want {
		return nil, errUsage
	}
	o.file = rest[0]
	if o.upgrade {
		return o, nil
	}
	o.user = rest[1]
	if o.batch {
		o.password, o.hasPassword = rest[2], true
	}
	if err := validUser(o.user); err != nil {
		return nil, err
	}
	if len(o.password) > 65535 {
		return nil, errors.New("password must be less than 65536 characters long")
	}
	if o.file == "-" && !o.create {
		return nil, errors.New(`"-" (standard output) needs -c`)
	}
	return o, nil
}

func validUser(u string) error {
	switch {
	case u == "":
		return errors.New("username must not be empty")
	case len(u) > 65535:
		return errors.New("username must be less than 65536 characters long")
	case strings.ContainsRune(u, ':'):
		return errors.New("username must not contain the ':' character")
	case strings.IndexFunc(u, unicode.IsControl) >= 0:
		return errors.New("username must not contain control characters")
	}
	return nil
}

// run is the command: exit status 0 on success, 1 on any error.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, err := parseArgs(args)
	if errors.Is(err, errUsage) {
		fmt.Fprint(stderr, usage)
		return 1
	}
	if err == nil {
		err = execute(o, stdin, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	return 0
}

func execute(o *options, stdin io.Reader, stdout io.Writer) error {
	if o.upgrade {
		return rewrite(o.file, func(lines []string) ([]string, error) { return upgrade(lines, o) })
	}
	if !o.del && !o.hasPassword {
		pw, err := readPassword(stdin, stdout)
		if err != nil {
			return err
		}
		o.password = pw
	}
	if o.create {
		line, err := entry(o, o.user, o.password)
		if err != nil {
			return err
		}
		if o.file == "-" {
			_, err := io.WriteString(stdout, line+"\n")
			return err
		}
		return writeFile(o.file, []string{line}, 0o600)
	}
	return rewrite(o.file, func(lines []string) ([]string, error) {
		if o.del {
			return remove(lines, o.user)
		}
		return set(lines, o)
	})
}

func entry(o *options, user, password string) (string, error) {
	h, err := auth.NewHash(o.alg, []byte(password), o.iterations)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return user + ":" + h.String(), nil
}

// lineUser returns the user of a password file line, "" for blank lines and
// comments.
func lineUser(line string) string {
	if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
		return ""
	}
	u, _, _ := strings.Cut(line, ":")
	return u
}

func set(lines []string, o *options) ([]string, error) {
	e, err := entry(o, o.user, o.password)
	if err != nil {
		return nil, err
	}
	for i, l := range lines {
		if lineUser(l) == o.user {
			lines[i] = e
			return lines, nil
		}
	}
	return append(lines, e), nil
}

func remove(lines []string, user string) ([]string, error) {
	out := lines[:0]
	found := false
	for _, l := range lines {
		if lineUser(l) == user {
			found = true
			continue
		}
		out = append(out, l)
	}
	if !found {
		return nil, fmt.Errorf("user %s not found in password file", user)
	}
	return out, nil
}

func upgrade(lines []string, o *options) ([]string, error) {
	for i, l := range lines {
		u := lineUser(l)
		if u == "" {
			continue
		}
		_, pw, ok := strings.Cut(l, ":")
		if !ok {
			return nil, fmt.Errorf("corrupt password file at line %d", i+1)
		}
		if _, err := auth.ParseHash(pw); err == nil {
			continue // already hashed
		}
		e, err := entry(o, u, pw)
		if err != nil {
			return nil, err
		}
		lines[i] = e
	}
	return lines, nil
}

// rewrite reads the file, lets edit change its lines and writes it back
// with its mode kept.
func rewrite(path string, edit func([]string) ([]string, error)) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("read password file: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read password file: %w", err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		lines = append(lines, strings.TrimRight(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read password file: %w", err)
	}
	lines, err = edit(lines)
	if err != nil {
		return err
	}
	return writeFile(path, lines, fi.Mode().Perm())
}

// writeFile replaces path atomically (a new file renamed over it), so that
// a broker watching the file never reads half of it. Where a rename is
// impossible (a file bind-mounted on its own), it writes in place.
func writeFile(path string, lines []string, mode os.FileMode) error {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return writeInPlace(path, b.String(), mode)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		return fmt.Errorf("write password file: %w", err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write password file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write password file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write password file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return writeInPlace(path, b.String(), mode)
	}
	return nil
}

func writeInPlace(path, content string, mode os.FileMode) error {
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		return fmt.Errorf("write password file: %w", err)
	}
	return nil
}

// readPassword asks twice, without echo on a terminal; from a pipe it reads
// two lines, as mosquitto_passwd does.
func readPassword(stdin io.Reader, prompt io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		ask := func(p string) (string, error) {
			fmt.Fprint(prompt, p)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(prompt)
			return string(b), err
		}
		a, err := ask("Password: ")
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		b, err := ask("Reenter password: ")
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return samePassword(a, b)
	}
	r := bufio.NewReader(stdin)
	line := func() (string, error) {
		s, err := r.ReadString('\n')
		if err != nil && (err != io.EOF || s == "") {
			return "", fmt.Errorf("read password: %w", err)
		}
		return strings.TrimRight(s, "\r\n"), nil
	}
	a, err := line()
	if err != nil {
		return "", err
	}
	b, err := line()
	if err != nil {
		return "", err
	}
	return samePassword(a, b)
}

func samePassword(a, b string) (string, error) {
	if a != b {
		return "", errors.New("passwords do not match")
	}
	if len(a) > 65535 {
		return "", errors.New("password must be less than 65536 characters long")
	}
	return a, nil
}
