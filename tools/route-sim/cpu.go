package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// processCPU is the CPU time this process has used, user and system: the
// publisher and every node share the process, so one mode's figure is the
// whole simulated cluster's cost, Kafka aside.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times; 100 on every
// Linux architecture Go supports, and reading it would need cgo.
const clockTicks = 100

// findKafka returns the pid of the one java process whose command line
// contains mark (the test stack's broker names its own directory), or 0 when
// none or several do: the figure would be someone else's otherwise. Only
// java counts, so a shell whose command merely mentions mark is no match.
func findKafka(mark string) int {
	if mark == "" {
		return 0
	}
	paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	found := 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte(mark)) {
			continue
		}
		if arg0, _, _ := bytes.Cut(b, []byte{0}); filepath.Base(string(arg0)) != "java" {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if found != 0 {
			return 0
		}
		found = pid
	}
	return found
}

// pidCPU is the user and system CPU time of pid so far.
func pidCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime (fields 14 and 15) of a /proc/PID/stat
// line. The command name in parentheses may hold spaces, so fields are
// counted from the last ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no command name")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields", len(f)+2)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat: utime %q stime %q", f[11], f[12])
	}
	return time.Duration(u+s) * time.Second / clockTicks, nil
}
