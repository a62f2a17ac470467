// Command killsoak measures what kill -9 does to Foyer's durability and
// to sync continuity: writers send messages and readers long-poll /sync
// while the server is killed and restarted on the same storage again and
// again.
//
//	go run ./bench/killsoak -kills 8 -backend sqlite
//	go run ./bench/killsoak -kills 8 -backend postgres -database-url 'postgres://…/an_empty_db'
//
// It builds ./cmd/foyer once (run it from the repository root) and serves
// it on a loopback port with registration open and rate limits off. A
// few users join a couple of rooms. Writers send messages with unique
// bodies (PUT /send with a txn ID, retried with the same txn ID after a
// transport error, as clients do) and record every acknowledged event;
// after each message they re-send an old read receipt, a write that takes
// a stream position and stores nothing. Readers long-poll /sync, keeping
// their next_batch token across every restart, and record every timeline
// event they are given (a timeline marked limited is filled in with
// /messages back to the previous token, as clients do).
//
// Every 1–4 s the server gets SIGKILL (with -sigterm-every N, SIGTERM
// every Nth time) and is started again. Every -quiet-every'th stop comes
// after a stretch without messages, longer than the readers' long-poll
// timeout, in which each writer sends one stale receipt: the readers then
// hold tokens whose last positions stored nothing, the case in which a
// restart that numbers positions from the highest stored one hands them
// out again and the readers skip the events given them.
//
// After -kills kills the writers stop, the readers catch up, and it
// checks that every acknowledged event is in its room's history exactly
// once (read with /messages), that no message is stored twice, and that
// every reader was given every acknowledged event; then it stops the
// server with SIGTERM. The last line of output is the summary:
//
//	backend=sqlite kills=8 acknowledged=12345 lost=0 duplicated=0 skipped_by_sync=0 readers=4
//
// The exit status is 1 if anything was lost, duplicated or skipped (or a
// SIGTERM did not end in a clean exit, or the server refused a request),
// 2 if the run could not be completed (e.g. the server did not come back
// within a minute, or -max-run-time ran out). The temporary directory
// (binary, SQLite data, server log) is kept when the status is not 0.
//
// For PostgreSQL, -database-url must name an empty database that the
// operator created (and drops afterwards): the throwaway PostgreSQL of
// the integration tests (internal/testharness/pgtest) serves tests only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"foyer/bench/benchserver"
)

type options struct {
	kills, sigtermEvery, quietEvery      int
	backend, databaseURL                 string
	writers, readers, rooms              int
	minInterval, maxInterval             time.Duration
	syncTimeout, retryBudget, maxRunTime time.Duration
	keep, verbose, staleReceipts         bool
}

func main() {
	var o options
	flag.IntVar(&o.kills, "kills", 8, "SIGKILLs to survive")
	flag.IntVar(&o.sigtermEvery, "sigterm-every", 0, "make every Nth restart a clean SIGTERM one instead (0: never)")
	flag.IntVar(&o.quietEvery, "quiet-every", 2, "let every Nth stop follow a stretch without messages longer than -sync-timeout (0: never)")
	flag.StringVar(&o.backend, "backend", "sqlite", "sqlite or postgres")
	flag.StringVar(&o.databaseURL, "database-url", "", "postgres://… of an EMPTY database (required with -backend postgres)")
	flag.IntVar(&o.writers, "writers", 4, "concurrent writers")
	flag.IntVar(&o.readers, "readers", 4, "concurrent /sync readers")
	flag.IntVar(&o.rooms, "rooms", 2, "rooms the messages are spread over")
	flag.DurationVar(&o.minInterval, "min-interval", time.Second, "shortest time between restarts")
	flag.DurationVar(&o.maxInterval, "max-interval", 4*time.Second, "longest time between restarts")
	flag.DurationVar(&o.syncTimeout, "sync-timeout", 3*time.Second, "the readers' long-poll timeout")
	flag.DurationVar(&o.retryBudget, "retry-budget", time.Minute, "how long a writer retries one txn before giving it up")
	flag.DurationVar(&o.maxRunTime, "max-run-time", 15*time.Minute, "end the run (exit status 2) if it lasts longer")
	flag.BoolVar(&o.staleReceipts, "stale-receipts", true, "writers re-send an old read receipt after each message (a write that stores nothing)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (binary, data, server log)")
	flag.BoolVar(&o.verbose, "v", false, "log each restart")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("killsoak: ")
	if err := o.validate(); err != nil {
		log.Print(err)
		flag.Usage()
		os.Exit(2)
	}
	os.Exit(run(o))
}

func (o options) validate() error {
	switch {
	case o.backend != "sqlite" && o.backend != "postgres":
		return fmt.Errorf("-backend must be sqlite or postgres, not %q", o.backend)
	case o.backend == "postgres" && o.databaseURL == "":
		return errors.New("-backend postgres needs -database-url naming an empty database")
	case o.backend == "sqlite" && o.databaseURL != "":
		return errors.New("-database-url is for -backend postgres")
	case o.kills < 0 || o.kills > 10000 || o.sigtermEvery < 0 || o.quietEvery < 0:
		return errors.New("-kills must be 0…10000, -sigterm-every and -quiet-every at least 0")
	case o.writers < 1 || o.readers < 0 || o.rooms < 1 || o.writers > 200 || o.readers > 200 || o.rooms > 100:
		return errors.New("-writers 1…200, -readers 0…200, -rooms 1…100")
	case o.minInterval <= 0 || o.maxInterval < o.minInterval:
		return errors.New("need 0 < -min-interval <= -max-interval")
	case o.syncTimeout <= 0 || o.retryBudget <= 0 || o.maxRunTime <= 0:
		return errors.New("-sync-timeout, -retry-budget and -max-run-time must be positive")
	}
	return nil
}

// run does one soak and returns the exit status.
func run(o options) int {
	ctx, cancel := context.WithTimeout(context.Background(), o.maxRunTime)
	defer cancel()
	dir, err := os.MkdirTemp("", "foyer-killsoak-")
	if err != nil {
		log.Print(err)
		return 2
	}
	logPath := filepath.Join(dir, "foyer.log")
	status, err := soak(ctx, o, dir, logPath)
	if err != nil {
		log.Print(err)
		status = 2
	}
	if status == 0 && !o.keep {
		_ = os.RemoveAll(dir)
	} else {
		log.Printf("kept %s (server log: %s)", dir, logPath)
	}
	return status
}

func soak(ctx context.Context, o options, dir, logPath string) (int, error) {
	logf := func(format string, args ...any) { log.Printf(format, args...) }
	bin, err := benchserver.Build(dir)
	if err != nil {
		return 0, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return 0, err
	}
	defer logFile.Close()
	args := []string{"--data-dir", filepath.Join(dir, "data"), "--server-name", "localhost", "--registration", "open", "--log-level", "warn"}
	if o.backend == "postgres" {
		args = append(args, "--database-url", o.databaseURL)
	}
	addr := benchserver.FreeAddr()
	c := newClient("http://" + addr)
	srv := &server{bin: bin, addr: addr, env: benchserver.Env(), args: args, logTo: logFile, c: c}
	if err := srv.start(); err != nil {
		return 0, err
	}
	// Whatever happens, no server outlives the run.
	defer func() { srv.proc.Stop(os.Kill, 10*time.Second) }()

	cs, err := setUp(ctx, c, o.rooms, o.writers, o.readers)
	if err != nil {
		return 0, err
	}
	led := &ledger{}
	var readers []*reader
	for i, token := range cs.readerTokens {
		rd := &reader{id: i, token: token, c: c, syncTimeout: o.syncTimeout, log: logf}
		if err := rd.start(ctx); err != nil {
			return 0, err
		}
		readers = append(readers, rd)
	}
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	var readWG, writeWG sync.WaitGroup
	for _, rd := range readers {
		readWG.Go(func() { rd.run(readCtx) })
	}
	stopWriting := make(chan struct{})
	var quiet atomic.Bool
	for i, token := range cs.writerTokens {
		w := &writer{id: i, token: token, rooms: cs.rooms, c: c, led: led, epoch: &srv.epoch, retryBudget: o.retryBudget, log: logf, staleReceipts: o.staleReceipts, quiet: &quiet}
		writeWG.Go(func() { w.run(ctx, stopWriting) })
	}
	started := time.Now()

	// Restart until the kills are done, then write a last while so that
	// the last process, too, acknowledges events the readers must get.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	pause := func() { sleepCtx(ctx, o.minInterval+time.Duration(rng.Int64N(int64(o.maxInterval-o.minInterval)+1))) }
	var restartErr error
	kills, sigterms := 0, 0
	for cycle := 1; kills < o.kills && ctx.Err() == nil; cycle++ {
		pause()
		sig := syscall.SIGKILL
		if o.sigtermEvery > 0 && cycle%o.sigtermEvery == 0 {
			sig = syscall.SIGTERM
		}
		// A quiet stretch lets the readers' long-polls time out and take
		// a token at whatever the last write was, stale receipts included.
		quietBefore := o.quietEvery > 0 && cycle%o.quietEvery == 0
		if quietBefore {
			quiet.Store(true)
			sleepCtx(ctx, o.syncTimeout+time.Second)
		}
		if o.verbose {
			logf("restart %d: %s after %d acknowledged (quiet before: %v)", cycle, sig, led.count(), quietBefore)
		}
		// The writers resume at once, so that, like the readers, they
		// meet the server down and come back as it does.
		restartErr = srv.stop(sig)
		quiet.Store(false)
		if restartErr != nil {
			break
		}
		if sig == syscall.SIGKILL {
			kills++
		} else {
			sigterms++
		}
		if restartErr = srv.start(); restartErr != nil {
			break
		}
	}
	if restartErr == nil {
		pause()
	}
	close(stopWriting)
	writeWG.Wait()
	if restartErr != nil {
		stopReading()
		readWG.Wait()
		return 0, restartErr
	}
	if ctx.Err() != nil {
		stopReading()
		readWG.Wait()
		return 0, fmt.Errorf("the run did not finish within -max-run-time %v", o.maxRunTime)
	}
	writing := time.Since(started)
	acks := led.all()

	// The readers get a few long-polls' time to catch up with the last
	// acknowledged events.
	caughtUp := time.Now().Add(3*o.syncTimeout + 10*time.Second)
	for time.Now().Before(caughtUp) && ctx.Err() == nil {
		behind := 0
		for _, rd := range readers {
			behind += len(rd.missing(acks))
		}
		if behind == 0 {
			break
		}
		sleepCtx(ctx, 200*time.Millisecond)
	}
	stopReading()
	readWG.Wait()

	histories := map[string][]eventRef{}
	for _, room := range cs.rooms {
		h, err := readHistory(ctx, c, cs.ownerToken, room, len(acks)/100+1000)
		if err != nil {
			return 0, err
		}
		histories[room] = h
	}
	v := judge(acks, histories, readers)
	if err := srv.stop(syscall.SIGTERM); err != nil {
		return 0, err
	}

	v.describe(logf)
	var syncs, failures, refusedSyncs, limited, gapFilled, redelivered int64
	for _, rd := range readers {
		syncs += rd.syncs.Load()
		failures += rd.failures.Load()
		refusedSyncs += rd.refused.Load()
		limited += rd.limited.Load()
		gapFilled += rd.gapFilled.Load()
		redelivered += rd.redelivered.Load()
	}
	for _, a := range srv.anomalies {
		logf("anomaly: %s", a)
	}
	logf("details: %v of writing; sigterm_restarts=%d; writes: retries=%d abandoned=%d refused=%d; syncs: answered=%d failed=%d refused=%d limited=%d gap_filled=%d redelivered=%d",
		writing.Round(time.Millisecond), sigterms, led.retries.Load(), led.abandoned.Load(), led.refused.Load(),
		syncs, failures, refusedSyncs, limited, gapFilled, redelivered)
	fmt.Printf("backend=%s kills=%d acknowledged=%d lost=%d duplicated=%d skipped_by_sync=%d readers=%d\n",
		o.backend, kills, len(acks), len(v.lost), v.duplicated, v.skippedTotal(), len(readers))
	if len(v.lost) > 0 || v.duplicated > 0 || v.skippedTotal() > 0 || len(srv.anomalies) > 0 || led.refused.Load() > 0 || refusedSyncs > 0 {
		return 1, nil
	}
	return 0, nil
}
