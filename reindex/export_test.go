package reindex

// AddPending lets tests put packs into the pending list as a refresh in
// another process does.
var AddPending = addPending
