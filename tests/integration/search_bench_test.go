package integration

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"foyer/internal/testharness"
)

// searchBenchMessages is how many messages the search benchmark indexes.
const searchBenchMessages = 100_000

// BenchmarkSearch measures POST /search over 100,000 messages in 10 rooms,
// sent over HTTP (so indexed by the one write path), per backend: the
// index's size on disk, and the time of a search for a word in 10
// messages, for the most common word (in most messages) by rank and by
// recent, for two words together, and for a prefix. Words follow a Zipf
// law over a vocabulary of 20,000, 6 to 14 to a message.
func BenchmarkSearch(b *testing.B) {
	for _, backend := range testharness.Backends {
		b.Run(backend, func(b *testing.B) {
			hs := testharness.Start(b, testharness.Config(b, backend))
			alice := hs.RegisterUser(b, "alice")
			var rooms []string
			for range 10 {
				rooms = append(rooms, createRoom(b, hs, alice.Token, nil))
			}
			start := time.Now()
			seedSearchMessages(b, hs, alice.Token, rooms)
			b.Logf("%s: %d messages sent in %v (%.0f/s)", backend, searchBenchMessages, time.Since(start).Round(time.Second),
				searchBenchMessages/time.Since(start).Seconds())
			size, total := searchIndexSize(b, hs, backend)
			b.Logf("%s: search index %.1f MB (%.0f bytes a message); whole database %.1f MB", backend,
				float64(size)/1e6, float64(size)/searchBenchMessages, float64(total)/1e6)

			client := benchClient()
			defer client.CloseIdleConnections()
			for _, c := range []struct {
				name, term, order string
			}{
				{"rare_word", "quokka", "rank"},
				{"common_word_rank", searchBenchWord(0), "rank"},
				{"common_word_recent", searchBenchWord(0), "recent"},
				{"two_words", searchBenchWord(3) + " " + searchBenchWord(40), "rank"},
				{"prefix", searchBenchWord(7)[:3], "rank"},
			} {
				body, _ := json.Marshal(map[string]any{"search_categories": map[string]any{"room_events": map[string]any{
					"search_term": c.term, "order_by": c.order, "filter": map[string]any{"limit": 10}}}})
				var count float64
				b.Run(c.name, func(b *testing.B) {
					for b.Loop() {
						req, _ := http.NewRequest("POST", hs.URL+cs+"/search", bytes.NewReader(body))
						req.Header.Set("Authorization", "Bearer "+alice.Token)
						resp, err := client.Do(req)
						if err != nil {
							b.Fatal(err)
						}
						raw, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							b.Fatalf("search %q: %s %s", c.term, resp.Status, raw)
						}
						var out struct {
							SearchCategories struct {
								RoomEvents struct {
									Count float64 `json:"count"`
								} `json:"room_events"`
							} `json:"search_categories"`
						}
						_ = json.Unmarshal(raw, &out)
						count = out.SearchCategories.RoomEvents.Count
					}
					b.ReportMetric(count, "matches")
					b.ReportMetric(float64(size)/1e6, "index-MB")
				})
			}
		})
	}
}

// searchBenchWord is the vocabulary's i-th most common word: letters made
// from i, so every word is distinct and none is an English stop word,
// ending in a q no other letter of it is, so no word begins another (a
// word searched for is one word, a prefix of one many).
func searchBenchWord(i int) string {
	const syllables = "ba be bi bo bu da de di do du ka ke ki ko ku la le li lo lu ma me mi mo mu na ne ni no nu ra re ri ro ru sa se si so su ta te ti to tu za ze zi zo zu"
	syl := strings.Fields(syllables)
	var w strings.Builder
	w.WriteString("x")
	for n := i + 1; n > 0; n /= len(syl) {
		w.WriteString(syl[n%len(syl)])
	}
	w.WriteString("q")
	return w.String()
}

// seedSearchMessages sends searchBenchMessages messages over HTTP from 8
// clients, spread over the rooms; every 10,000th holds "quokka".
func seedSearchMessages(b *testing.B, hs *testharness.Homeserver, token string, rooms []string) {
	client := benchClient()
	defer client.CloseIdleConnections()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Bool
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			zipf := rand.NewZipf(rng, 1.1, 1, 20_000-1)
			for !failed.Load() {
				n := next.Add(1)
				if n > searchBenchMessages {
					return
				}
				words := make([]string, 6+rng.IntN(9))
				for i := range words {
					words[i] = searchBenchWord(int(zipf.Uint64()))
				}
				if n%10_000 == 0 {
					words[0] = "quokka"
				}
				body, _ := json.Marshal(map[string]any{"msgtype": "m.text", "body": strings.Join(words, " ")})
				req, _ := http.NewRequest("PUT", hs.URL+roomPath(rooms[int(n)%len(rooms)], fmt.Sprintf("/send/m.room.message/s%d", n)), bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("send: %s", resp.Status)
					}
				}
				if err != nil {
					failed.Store(true)
					b.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() {
		b.FailNow()
	}
}

// searchIndexSize is the bytes the search index takes on disk, and the
// whole database's. SQLite: a copy of the database (VACUUM INTO) with and
// without the index, compacted; PostgreSQL: the table with its GIN index.
func searchIndexSize(b *testing.B, hs *testharness.Homeserver, backend string) (index, total int64) {
	ctx := context.Background()
	if backend == "postgres" {
		db, err := sql.Open("pgx", hs.Config.DatabaseURL)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, `VACUUM ANALYZE event_search`); err != nil {
			b.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, `SELECT pg_total_relation_size('event_search'), pg_database_size(current_database())`).Scan(&index, &total); err != nil {
			b.Fatal(err)
		}
		return index, total
	}
	copyPath := filepath.Join(b.TempDir(), "copy.db")
	src, err := sql.Open("sqlite3", "file:"+filepath.ToSlash(filepath.Join(hs.Config.DataDir, "foyer.db")))
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	if _, err := src.ExecContext(ctx, `VACUUM INTO '`+copyPath+`'`); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(copyPath)
	if err != nil {
		b.Fatal(err)
	}
	total = st.Size()
	cp, err := sql.Open("sqlite3", "file:"+filepath.ToSlash(copyPath))
	if err != nil {
		b.Fatal(err)
	}
	defer cp.Close()
	if _, err := cp.ExecContext(ctx, `DROP TABLE event_search`); err != nil {
		b.Fatal(err)
	}
	if _, err := cp.ExecContext(ctx, `VACUUM`); err != nil {
		b.Fatal(err)
	}
	cp.Close()
	if st, err = os.Stat(copyPath); err != nil {
		b.Fatal(err)
	}
	return total - st.Size(), total
}
