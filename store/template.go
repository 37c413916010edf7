package store

import (
	"encoding/json"
	"time"
)

// templateRecord names a snapshot as a template for new projects.
type templateRecord struct {
	Name      string    `json:"name"`
	Category  string    `json:"category"`
	Snapshot  string    `json:"snapshot"`
	CreatedAt time.Time `json:"created_at"`
	Removed   bool      `json:"removed,omitempty"`
	Rev       uint64    `json:"rev"`
}

func (t *templateRecord) encode() []byte {
	b, err := json.Marshal(t)
	if err != nil {
		panic(err)
	}
	return b
}
