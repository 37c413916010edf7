// Package workbench keeps the extracted copies under cache/: a directory
// per workbench id, with a sidecar <id>.json naming the project and the
// version, so that archive, delete and `silo cache clean` can find and
// remove a project's copies. A copy is built beside its place and renamed
// into it whole (Place), so a workbench never holds half a version, and
// two extracts to one free id cannot both win.
package workbench
