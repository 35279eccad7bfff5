// Command mqtt-passwd creates and updates password files in the format
// mosquitto_passwd writes, with the same options:
//
//	mqtt-passwd [-H sha512-pbkdf2|argon2id] [--argon2] [-I iterations] [-c | -D] passwordfile username
//	mqtt-passwd [-H ...] [-c] -b passwordfile username password
//	mqtt-passwd -U passwordfile
//
// Without -b the password is read twice from the terminal without echo
// (or as two lines from standard input when it is not a terminal). With
// -c, "-" as the file writes the entry to standard output.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
