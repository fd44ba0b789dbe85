// memberlist-member: one hashicorp/memberlist member for the side-by-side benchmark with esk8s
// (tests/bench/compare_bench.py, docs/BENCHMARKS.md). memberlist.DefaultLANConfig() unchanged
// except for the name and address given here; with -key, memberlist's AES-GCM encryption.
//
//	memberlist-member -name m-3 -bind 127.0.42.4 -port 7946 -join 127.0.42.1:7946,... -expect 8
//
// It prints one machine-readable line per event on stdout (times are Unix nanoseconds):
//
//	config probe_interval_ms=1000 ...   the settings in force, once
//	ready <t>                           listening
//	joined_all <t> <alive>              the first time it knows -expect members alive (itself included)
//	dead <name> <t>                     memberlist declared <name> dead (or left): NotifyLeave
//
// It retries Join every 200 ms until one member answers (the others may not be listening yet), for
// at most -join-timeout. SIGTERM or SIGINT ends it without a leave message (like a crash for the
// others); the benchmark SIGKILLs members anyway.
package main

import (
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/memberlist"
)

// events counts the members memberlist reports alive and prints the lines the benchmark reads.
type events struct {
	mu       sync.Mutex
	out      io.Writer
	expect   int
	alive    map[string]bool
	reported bool
}

func (e *events) printf(format string, args ...any) {
	// One write per line: the benchmark reads lines from a pipe.
	fmt.Fprintf(e.out, format, args...)
}

func (e *events) NotifyJoin(n *memberlist.Node) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.alive[n.Name] = true
	if !e.reported && len(e.alive) >= e.expect {
		e.reported = true
		e.printf("joined_all %d %d\n", time.Now().UnixNano(), len(e.alive))
	}
}

func (e *events) NotifyLeave(n *memberlist.Node) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.alive, n.Name)
	e.printf("dead %s %d\n", n.Name, time.Now().UnixNano())
}

func (e *events) NotifyUpdate(*memberlist.Node) {}

func main() {
	name := flag.String("name", "", "member name, unique in the cluster (required)")
	bind := flag.String("bind", "127.0.0.1", "address to bind (UDP and TCP)")
	port := flag.Int("port", 7946, "port to bind (UDP and TCP)")
	join := flag.String("join", "", "comma-separated host:port of members to join")
	expect := flag.Int("expect", 1, "members (itself included) after which joined_all is printed")
	key := flag.String("key", "", "hex AES key (16, 24 or 32 bytes) for memberlist's encryption; empty: none (the LAN default)")
	joinTimeout := flag.Duration("join-timeout", 60*time.Second, "give up joining after this long")
	verbose := flag.Bool("v", false, "memberlist's own log on stderr")
	flag.Parse()
	if *name == "" {
		fmt.Fprintln(os.Stderr, "memberlist-member: -name is required (a name unique in the cluster)")
		os.Exit(2)
	}
	if *expect < 1 {
		fmt.Fprintf(os.Stderr, "memberlist-member: -expect %d: must be 1 or more\n", *expect)
		os.Exit(2)
	}

	conf := memberlist.DefaultLANConfig()
	conf.Name = *name
	conf.BindAddr = *bind
	conf.BindPort = *port
	conf.AdvertiseAddr = *bind
	conf.AdvertisePort = *port
	if !*verbose {
		conf.LogOutput = io.Discard
	}
	if *key != "" {
		k, err := hex.DecodeString(*key)
		if err != nil || (len(k) != 16 && len(k) != 24 && len(k) != 32) {
			fmt.Fprintf(os.Stderr, "memberlist-member: -key %q: want 32, 48 or 64 hex digits (an AES-128/192/256 key)\n", *key)
			os.Exit(2)
		}
		conf.SecretKey = k
	}
	ev := &events{out: os.Stdout, expect: *expect, alive: map[string]bool{}}
	conf.Events = ev
	fmt.Printf("config probe_interval_ms=%d probe_timeout_ms=%d suspicion_mult=%d suspicion_max_timeout_mult=%d "+
		"gossip_interval_ms=%d gossip_nodes=%d push_pull_interval_ms=%d retransmit_mult=%d indirect_checks=%d "+
		"awareness_max_multiplier=%d compression=%t encryption=%t\n",
		conf.ProbeInterval.Milliseconds(), conf.ProbeTimeout.Milliseconds(), conf.SuspicionMult,
		conf.SuspicionMaxTimeoutMult, conf.GossipInterval.Milliseconds(), conf.GossipNodes,
		conf.PushPullInterval.Milliseconds(), conf.RetransmitMult, conf.IndirectChecks,
		conf.AwarenessMaxMultiplier, conf.EnableCompression, len(conf.SecretKey) > 0)

	m, err := memberlist.Create(conf)
	if err != nil {
		fmt.Fprintf(os.Stderr, "memberlist-member: cannot start on %s:%d: %v\n", *bind, *port, err)
		os.Exit(1)
	}
	fmt.Printf("ready %d\n", time.Now().UnixNano())

	var peers []string
	for _, p := range strings.Split(*join, ",") {
		if p = strings.TrimSpace(p); p != "" && p != fmt.Sprintf("%s:%d", *bind, *port) {
			peers = append(peers, p)
		}
	}
	if len(peers) > 0 {
		go func() {
			deadline := time.Now().Add(*joinTimeout)
			for time.Now().Before(deadline) {
				if n, _ := m.Join(peers); n > 0 || m.NumMembers() > 1 {
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
			log.Printf("memberlist-member: no member of %v answered within %s", peers, *joinTimeout)
		}()
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	os.Exit(0)
}
