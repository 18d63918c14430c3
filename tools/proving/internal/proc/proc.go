// Package proc runs the child processes of the benchmark and the chaos
// harness: the built services and, for the harness, its own PostgreSQL,
// Redis and nats-server. Children die with the parent (Pdeathsig), so a
// harness killed half-way leaves nothing behind.
package proc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Spec is what to run.
type Spec struct {
	Name string   // for messages and the log file's name
	Path string   // the executable
	Args []string // arguments after the executable
	Env  []string // the whole environment
	Dir  string   // working directory; the log file goes here too
	// Credential runs the process as another user (PostgreSQL refuses root).
	Credential *syscall.Credential
}

// Proc is one started process. Its output is appended to Dir/Name.log,
// so the log of a restarted service continues its earlier one.
type Proc struct {
	Spec
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
}

// Start starts a process.
func Start(s Spec) (*Proc, error) {
	logPath := filepath.Join(s.Dir, s.Name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child has its own copy
	cmd := exec.Command(s.Path, s.Args...)
	cmd.Env = s.Env
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: s.Credential}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.Name, err)
	}
	p := &Proc{Spec: s, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.exitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited is closed when the process has ended.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// ExitErr is how the process ended; valid once Exited is closed.
func (p *Proc) ExitErr() error { return p.exitErr }

// Running reports whether the process has not ended.
func (p *Proc) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Signal sends sig unless the process has already ended.
func (p *Proc) Signal(sig syscall.Signal) error {
	if !p.Running() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", p.Name, err)
	}
	return nil
}

// Kill is kill -9, waiting until the process is gone.
func (p *Proc) Kill() {
	_ = p.Signal(syscall.SIGKILL)
	<-p.exited
}

// Stop sends sig (SIGTERM, or SIGINT for PostgreSQL's fast shutdown) and
// waits up to grace before killing. It returns how the process ended:
// nil for a clean exit.
func (p *Proc) Stop(sig syscall.Signal, grace time.Duration) error {
	if err := p.Signal(sig); err != nil {
		return err
	}
	select {
	case <-p.exited:
		return p.exitErr
	case <-time.After(grace):
		p.Kill()
		return fmt.Errorf("%s did not stop within %s after %s: killed", p.Name, grace, sig)
	}
}

// Tail is the end of the process's log, for error messages.
func (p *Proc) Tail(lines int) string {
	b, err := os.ReadFile(filepath.Join(p.Dir, p.Name+".log"))
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// Binary is the program a named instance runs: metric-writer-2 (the
// second of two) runs metric-writer; edge runs edge.
func Binary(instance string) string {
	if i := strings.LastIndexByte(instance, '-'); i > 0 && strings.Trim(instance[i+1:], "0123456789") == "" {
		return instance[:i]
	}
	return instance
}

// FreeAddr is a loopback address nothing listens on right now.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// FreeAddrs gives each name its own free loopback address.
func FreeAddrs(names ...string) (map[string]string, error) {
	addrs := make(map[string]string, len(names))
	for _, n := range names {
		a, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		addrs[n] = a
	}
	return addrs, nil
}

// WaitHTTP waits until url answers 200.
func WaitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	return waitFor(ctx, timeout, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	})
}

// WaitTCP waits until something accepts connections at addr.
func WaitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	return waitFor(ctx, timeout, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

func waitFor(ctx context.Context, timeout time.Duration, ok func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ok()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// FindPID finds a process by its command name.
func FindPID(comm string) int {
	pids := pidsOf(comm)
	if len(pids) == 0 {
		return 0
	}
	return pids[0]
}

func pidsOf(comm string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err == nil && strings.TrimSpace(string(b)) == comm {
			out = append(out, pid)
		}
	}
	return out
}

// RSSMiB is a process's resident set size now; 0 when it is gone.
func RSSMiB(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// CPUSeconds is the CPU time (user + system) a process has used.
func CPUSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	end := strings.LastIndexByte(string(b), ')')
	if end < 0 {
		return 0
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100 // clock ticks of 10 ms
}

// CPUSecondsOf sums CPU time over every process of a command name
// (PostgreSQL's backends).
func CPUSecondsOf(comm string) float64 {
	total := 0.0
	for _, pid := range pidsOf(comm) {
		total += CPUSeconds(pid)
	}
	return total
}
